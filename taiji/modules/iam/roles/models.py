"""Custom tenant roles, groups and the bindings of users and groups to roles."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, intpk, timestamp, utcnow


class Role(TenantOwnedMixin, TimestampMixin, Model):
    """A role a tenant defined from the permissions the modules declare."""

    __tablename__ = "iam_role"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key"),)

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(sa.String(50))
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    permissions: Mapped[list] = mapped_column(sa.JSON, default=list)


class Group(TenantOwnedMixin, TimestampMixin, Model):
    __tablename__ = "iam_group"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key"),)

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(sa.String(50))
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(500), default="")


class GroupMember(Model):
    __tablename__ = "iam_group_member"

    group_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_group.id", ondelete="CASCADE"), primary_key=True)
    # Indexed by user: resolving access looks up "the groups of this user" on every request.
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("iam_user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)


class Binding(TenantOwnedMixin, Model):
    """A user or a group holds a role (built-in or custom, by key) in a tenant.

    Membership of the tenant stays with the built-in binding (iam_role_binding); these rows
    only add permissions. ``source`` tells bindings an upstream directory manages from manual ones.
    """

    __tablename__ = "iam_binding"
    __table_args__ = (
        sa.CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="one_subject"),
        sa.Index("ix_iam_binding_user", "user_id", "tenant_id"),
        sa.Index("ix_iam_binding_group", "group_id"),
    )

    id: Mapped[intpk]
    role: Mapped[str] = mapped_column(sa.String(50))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("iam_group.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(sa.String(20), default="manual")
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
