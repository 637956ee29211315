"""The one query that turns a user's bindings at a tenant into roles and permissions.

Kept apart from the services so ``iam.services.resolve_access`` (run on every request) can use
it without importing the rest; it is a single round trip: the user's built-in bindings, their
own extra bindings and their groups' bindings, with each custom role's permissions joined in.
"""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import db

from ..models import RoleBinding
from .models import Binding, Group, GroupMember, Role


def _statement():
    builtin = sa.select(
        RoleBinding.role,
        sa.literal(True).label("direct"),
        sa.type_coerce(sa.null(), Role.permissions.type).label("perms"),
    ).where(RoleBinding.user_id == sa.bindparam("uid"), RoleBinding.tenant_id == sa.bindparam("tid"))
    groups = sa.select(GroupMember.group_id).where(GroupMember.user_id == sa.bindparam("uid"))
    extra = (
        sa.select(Binding.role, sa.literal(False).label("direct"), Role.permissions.label("perms"))
        .outerjoin(Role, sa.and_(Role.tenant_id == Binding.tenant_id, Role.key == Binding.role))
        .where(
            Binding.tenant_id == sa.bindparam("tid"),
            sa.or_(Binding.user_id == sa.bindparam("uid"), Binding.group_id.in_(groups)),
        )
    )
    return sa.union_all(builtin, extra)


_STATEMENT = _statement()


def bindings_at(user_id: int, tenant_id: int) -> list[tuple[str, bool, list | None]]:
    """(role, is the built-in membership binding, custom role's permissions or None) rows."""
    return [tuple(row) for row in db.session.execute(_STATEMENT, {"uid": user_id, "tid": tenant_id}).all()]


def forget_member(user_id: int, tenant) -> None:
    """Someone left the tenant: drop their own extra bindings and their group memberships there,
    so rejoining later starts from the role they are given then, not from old grants."""
    db.session.execute(sa.delete(Binding).where(Binding.tenant_id == tenant.id, Binding.user_id == user_id))
    tenant_groups = sa.select(Group.id).where(Group.tenant_id == tenant.id)
    db.session.execute(sa.delete(GroupMember).where(GroupMember.user_id == user_id,
                                                    GroupMember.group_id.in_(tenant_groups)))
