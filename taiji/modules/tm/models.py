"""Members and invitations of a tenant. The tenant row itself is the kernel's."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, TenantOwnedMixin, intpk, timestamp, utcnow


class Member(TenantOwnedMixin, Model):
    """A user's membership; the role is an IAM role binding at the tenant."""

    __tablename__ = "tm_member"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[timestamp] = mapped_column(default=utcnow)
    invited_by_id: Mapped[int | None]


class Invitation(TenantOwnedMixin, Model):
    """Membership offered to an email address; nobody becomes a member without accepting one."""

    __tablename__ = "tm_invitation"

    id: Mapped[intpk]
    # Indexed: every console page counts the signed-in user's pending invitations by email.
    email: Mapped[str] = mapped_column(sa.String(255), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None]
    expires_at: Mapped[timestamp]
    accepted_at: Mapped[timestamp | None]
    accepted_by_id: Mapped[int | None]
    revoked_at: Mapped[timestamp | None]
    declined_at: Mapped[timestamp | None]
    # How the link reached the invitee: "mail" (mailed to the address only; the inviter never saw
    # it, so whoever opens it receives mail there) or "link" (handed to the inviter to pass on).
    delivery: Mapped[str] = mapped_column(sa.String(10), default="link", server_default="link")

    def state(self, now) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.declined_at is not None:
            return "declined"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"
