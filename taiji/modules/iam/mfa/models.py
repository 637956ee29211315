"""Recovery codes of the TOTP second factor."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, intpk, timestamp, utcnow


class RecoveryCode(Model):
    """A single-use code; only its sha256 is kept (the codes carry 50 random bits each)."""

    __tablename__ = "iam_recovery_code"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    used_at: Mapped[timestamp | None]
