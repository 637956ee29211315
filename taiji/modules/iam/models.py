"""Users, personal access tokens and role bindings."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import NO_VALUE

from taiji.platform.db import Model, TimestampMixin, intpk, str255, timestamp


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class User(TimestampMixin, Model):
    __tablename__ = "iam_user"

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    name: Mapped[str255]
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[UserStatus] = mapped_column(
        sa.Enum(UserStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=UserStatus.ACTIVE,
    )
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    # Bumped to end every session at once (disable, password change).
    session_epoch: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[timestamp | None]
    # When the address was proven to be the account owner's (``verification.py``): a platform
    # administrator, a mailed link, an invitation that went only by mail, a directory in a domain
    # its tenant verified. Not an invitation link the inviter was handed (the inviter could have
    # made the account). Changing the email clears it (below). OpenID Connect's email_verified.
    email_verified_at: Mapped[timestamp | None]
    # Second factor (TOTP, RFC 6238): the base32 secret once confirmed, and the last time step
    # accepted, so one code cannot be replayed inside its 30-second window.
    mfa_secret: Mapped[str | None] = mapped_column(sa.String(255))  # sealed (platform.crypto)
    mfa_enabled_at: Mapped[timestamp | None]
    mfa_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    @property
    def mfa_enabled(self) -> bool:
        return self.mfa_secret is not None and self.mfa_enabled_at is not None

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE


@sa.event.listens_for(User.email, "set", active_history=True)
def _email_changed(user: User, value, old, _initiator) -> None:
    # Whatever path changes an address, the proof was for the old one.
    if old is not NO_VALUE and old is not None and value != old:
        user.email_verified_at = None


class PersonalAccessToken(TimestampMixin, Model):
    __tablename__ = "iam_token"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    # sha256 of the token: tokens carry 256 bits of randomness, so a fast hash is enough.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    scopes: Mapped[list | None] = mapped_column(sa.JSON)
    expires_at: Mapped[timestamp | None]
    last_used_at: Mapped[timestamp | None]
    revoked_at: Mapped[timestamp | None]

    user: Mapped[User] = relationship(lazy="joined")

    def is_valid(self, now: dt.datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


class RoleBinding(Model):
    """A user holds a role at the platform (tenant_id NULL) or in one tenant."""

    __tablename__ = "iam_role_binding"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "tenant_id", "role"),
        sa.Index("ix_iam_role_binding_tenant_role", "tenant_id", "role"),
    )

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kernel_tenant.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(sa.String(50))
    created_at: Mapped[timestamp] = mapped_column(default=lambda: dt.datetime.now(dt.UTC))
