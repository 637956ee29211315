"""Custom tenant roles, groups and role bindings.

Built-in roles (owner, admin, member, viewer) come from the permission catalog and cannot be
changed; a tenant adds its own roles built from the permissions those built-in roles can hold.
Bindings only add permissions: membership of a tenant stays with the built-in role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.auth import TenantRole, catalog
from taiji.platform.db import Page, db, paginate
from taiji.platform.errors import Conflict, Invalid, NotFound, field_error, msg

from .. import services as iam
from ..models import User
from .models import Binding, Group, GroupMember, Role

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,49}$")
BUILTIN = tuple(r.value for r in TenantRole)
MAX_ROLES = 200


@dataclass
class RoleView:
    key: str
    name: str
    description: str
    permissions: list[str]
    builtin: bool
    id: int | None = None
    created_at: object = None
    updated_at: object = None
    extra: dict = field(default_factory=dict)


def assignable_permissions() -> dict[str, str]:
    """Permissions a custom role may hold: those some built-in tenant role holds.

    Platform-only permissions (creating tenants, changing quotas) are left out, or a tenant
    could grant itself a platform administrator's power on its own URLs.
    """
    held = set().union(*catalog.tenant_roles.values())
    return {name: catalog.permissions[name] for name in sorted(held) if name in catalog.permissions}


def _builtin_view(key: str) -> RoleView:
    return RoleView(
        key=key,
        name=key.capitalize(),
        description="Built-in role",
        permissions=sorted(catalog.tenant_role_permissions(key)),
        builtin=True,
    )


def _view(row: Role) -> RoleView:
    return RoleView(
        key=row.key,
        name=row.name,
        description=row.description,
        permissions=sorted(row.permissions or []),
        builtin=False,
        id=row.id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_key(key: str, what: str) -> str:
    key = (key or "").strip()
    if not KEY_PATTERN.match(key):
        if what == "group":
            raise field_error("key", msg("Use 2-50 lowercase letters, digits and dashes for the group key."))
        raise field_error("key", msg("Use 2-50 lowercase letters, digits and dashes for the role key."))
    return key


def _check_text(field_name: str, value: str | None, limit: int, required: bool = False) -> str:
    value = (value or "").strip()
    if "\x00" in value:
        raise field_error(field_name, msg("Must not contain the NUL character."))
    if required and not value:
        raise field_error(field_name, msg("Required."))
    return value[:limit]


def _check_permissions(permissions, grantable: set[str] | None) -> list[str]:
    allowed = assignable_permissions()
    chosen = sorted(set(permissions or []))
    unknown = [p for p in chosen if p not in allowed]
    if unknown:
        raise field_error("permissions", msg("Not assignable to a tenant role: %(unknown)s.",
                                             unknown=', '.join(unknown)))
    if grantable is not None:
        beyond = [p for p in chosen if p not in grantable]
        if beyond:
            raise field_error("permissions", msg("You cannot grant what you do not hold: %(beyond)s.",
                                                 beyond=', '.join(beyond)))
    return chosen


# -- roles ------------------------------------------------------------------------------------


def list_roles(tenant, *, page: int = 1, page_size: int = 20) -> Page[RoleView]:
    """Built-in roles first, then the tenant's own, by key."""
    rows = db.session.execute(sa.select(Role).where(Role.tenant_id == tenant.id).order_by(Role.key)).scalars()
    views = [_builtin_view(k) for k in BUILTIN] + [_view(r) for r in rows]
    page, page_size = max(1, page), max(1, min(page_size, 100))
    start = (page - 1) * page_size
    return Page(items=views[start : start + page_size], total=len(views), page=page, page_size=page_size)


def _role_row(tenant, key: str) -> Role | None:
    return db.session.execute(
        sa.select(Role).where(Role.tenant_id == tenant.id, Role.key == key)
    ).scalar_one_or_none()


def get_role(tenant, key: str) -> RoleView:
    if key in BUILTIN:
        return _builtin_view(key)
    row = _role_row(tenant, key)
    if row is None:
        raise NotFound(msg("No role '%(key)s'.", key=key))
    return _view(row)


def create_role(tenant, data: dict, *, grantable: set[str] | None = None) -> RoleView:
    """Define a custom role; ``grantable`` limits it to what the caller holds (None: anything)."""
    key = _check_key(data.get("key"), "role")
    if key in BUILTIN:
        raise Conflict(
            msg("'%(key)s' is a built-in role.",
                key=key), errors={"json": {"key": [msg("Taken by a built-in role.")]}}
        )
    if _role_row(tenant, key) is not None:
        raise Conflict(msg("A role '%(key)s' already exists.",
                           key=key), errors={"json": {"key": [msg("Already exists.")]}})
    count = db.session.execute(
        sa.select(sa.func.count(Role.id)).where(Role.tenant_id == tenant.id)
    ).scalar_one()
    if count >= MAX_ROLES:
        raise Invalid(msg("A tenant may define at most %(max_roles)s roles.", max_roles=MAX_ROLES))
    row = Role(
        tenant_id=tenant.id,
        key=key,
        name=_check_text("name", data.get("name"), 100, True),
        description=_check_text("description", data.get("description"), 500),
        permissions=_check_permissions(data.get("permissions"), grantable),
    )
    db.session.add(row)
    db.session.flush()
    audit.record("iam.role.created", "role", key, tenant=tenant, details={"permissions": row.permissions})
    return _view(row)


def _custom(tenant, key: str) -> Role:
    if key in BUILTIN:
        raise Conflict(msg("'%(key)s' is a built-in role; built-in roles cannot be changed.", key=key))
    row = _role_row(tenant, key)
    if row is None:
        raise NotFound(msg("No role '%(key)s'.", key=key))
    return row


def update_role(tenant, key: str, data: dict, *, grantable: set[str] | None = None) -> RoleView:
    row = _custom(tenant, key)
    if "name" in data:
        row.name = _check_text("name", data["name"], 100, True)
    if "description" in data:
        row.description = _check_text("description", data["description"], 500)
    if "permissions" in data:
        row.permissions = _check_permissions(data["permissions"], grantable)
    db.session.flush()
    audit.record("iam.role.updated", "role", key, tenant=tenant, details={"permissions": row.permissions})
    return _view(row)


def delete_role(tenant, key: str) -> None:
    row = _custom(tenant, key)
    db.session.execute(sa.delete(Binding).where(Binding.tenant_id == tenant.id, Binding.role == key))
    db.session.delete(row)
    db.session.flush()
    audit.record("iam.role.deleted", "role", key, tenant=tenant)


# -- groups -----------------------------------------------------------------------------------


def list_groups(tenant, *, page: int = 1, page_size: int = 20) -> Page[Group]:
    return paginate(sa.select(Group).where(Group.tenant_id == tenant.id).order_by(Group.key), page, page_size)


def get_group(tenant, key: str) -> Group:
    row = db.session.execute(
        sa.select(Group).where(Group.tenant_id == tenant.id, Group.key == key)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No group '%(key)s'.", key=key))
    return row


def create_group(tenant, data: dict) -> Group:
    key = _check_key(data.get("key"), "group")
    exists = db.session.execute(
        sa.select(Group.id).where(Group.tenant_id == tenant.id, Group.key == key)
    ).first()
    if exists is not None:
        raise Conflict(msg("A group '%(key)s' already exists.",
                           key=key), errors={"json": {"key": [msg("Already exists.")]}})
    row = Group(
        tenant_id=tenant.id,
        key=key,
        name=_check_text("name", data.get("name"), 100, True),
        description=_check_text("description", data.get("description"), 500),
    )
    db.session.add(row)
    db.session.flush()
    audit.record("iam.group.created", "group", key, tenant=tenant)
    return row


def update_group(tenant, group: Group, data: dict) -> Group:
    if "name" in data:
        group.name = _check_text("name", data["name"], 100, True)
    if "description" in data:
        group.description = _check_text("description", data["description"], 500)
    db.session.flush()
    audit.record("iam.group.updated", "group", group.key, tenant=tenant)
    return group


def delete_group(tenant, group: Group) -> None:
    db.session.delete(group)
    db.session.flush()
    audit.record("iam.group.deleted", "group", group.key, tenant=tenant)


def group_members(group: Group, *, page: int = 1, page_size: int = 20) -> Page:
    stmt = (
        sa.select(User)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group.id)
        .order_by(User.email)
    )
    return paginate(stmt, page, page_size)


def _member_of_tenant(tenant, email: str):
    user = iam.get_user_by_email(iam.normalize_email(email))
    if user is None or not iam.tenant_roles(tenant, [user.id]):
        raise field_error("email", msg("%(email)s is not a member of this tenant.", email=email))
    return user


def add_group_member(tenant, group: Group, email: str, *, source: str = "manual"):
    """Put a member of the tenant into the group (only members: a group never grants membership)."""
    user = _member_of_tenant(tenant, email)
    exists = db.session.get(GroupMember, (group.id, user.id))
    if exists is None:
        db.session.add(GroupMember(group_id=group.id, user_id=user.id))
        db.session.flush()
        audit.record(
            "iam.group.member_added",
            "group",
            group.key,
            tenant=tenant,
            details={"email": user.email, "source": source},
        )
    return user


def remove_group_member(tenant, group: Group, user_id: int) -> None:
    row = db.session.get(GroupMember, (group.id, user_id))
    if row is None:
        raise NotFound(msg("User %(user_id)s is not in the group '%(group_key)s'.",
                           user_id=user_id, group_key=group.key))
    db.session.delete(row)
    db.session.flush()
    audit.record("iam.group.member_removed", "group", group.key, tenant=tenant, details={"user_id": user_id})


# -- bindings ---------------------------------------------------------------------------------


def list_bindings(tenant, key: str) -> list[dict]:
    get_role(tenant, key)
    rows = db.session.execute(
        sa.select(Binding, User.email, Group.key)
        .outerjoin(User, User.id == Binding.user_id)
        .outerjoin(Group, Group.id == Binding.group_id)
        .where(Binding.tenant_id == tenant.id, Binding.role == key)
        .order_by(Binding.id)
    ).all()
    return [
        {
            "id": b.id,
            "role": b.role,
            "user_email": email,
            "group": group,
            "source": b.source,
            "created_at": b.created_at,
        }
        for b, email, group in rows
    ]


def bind(
    tenant, key: str, *, email: str | None = None, group: str | None = None, source: str = "manual"
) -> dict:
    """Bind a member (by email) or a group (by key) to a role of the tenant."""
    get_role(tenant, key)
    if key == TenantRole.OWNER:
        # Ownership is a membership matter (who may remove whom), kept with the members page.
        raise Conflict(msg("Make someone an owner from the members page; the owner role is not bound here."))
    if bool(email) == bool(group):
        raise Invalid(
            msg("Name either a user_email or a group."),
            errors={"json": {"user_email": [msg("Give exactly one of user_email and group.")]}},
        )
    subject = (
        {"user_id": _member_of_tenant(tenant, email).id}
        if email
        else {"group_id": get_group(tenant, group).id}
    )
    where = [Binding.tenant_id == tenant.id, Binding.role == key] + [
        getattr(Binding, k) == v for k, v in subject.items()
    ]
    row = db.session.execute(sa.select(Binding).where(*where)).scalar_one_or_none()
    if row is None:
        row = Binding(tenant_id=tenant.id, role=key, source=source, **subject)
        db.session.add(row)
        db.session.flush()
        audit.record(
            "iam.role.bound",
            "role",
            key,
            tenant=tenant,
            details={"user": email, "group": group, "source": source},
        )
    return next(b for b in list_bindings(tenant, key) if b["id"] == row.id)


def unbind(tenant, key: str, binding_id: int) -> None:
    row = db.session.execute(
        sa.select(Binding).where(
            Binding.id == binding_id, Binding.tenant_id == tenant.id, Binding.role == key
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No binding %(binding_id)s of role '%(key)s'.", binding_id=binding_id, key=key))
    db.session.delete(row)
    db.session.flush()
    audit.record("iam.role.unbound", "role", key, tenant=tenant, details={"binding": binding_id})


def sync_user_bindings(tenant, user_id: int, roles: set[str], *, source: str) -> None:
    """Make the user's bindings from ``source`` (an upstream directory) exactly ``roles``."""
    known = set(BUILTIN) | set(
        db.session.execute(sa.select(Role.key).where(Role.tenant_id == tenant.id)).scalars()
    )
    wanted = roles & known
    rows = list(
        db.session.execute(
            sa.select(Binding).where(
                Binding.tenant_id == tenant.id, Binding.user_id == user_id, Binding.source == source
            )
        ).scalars()
    )
    have = {r.role for r in rows}
    for row in rows:
        if row.role not in wanted:
            db.session.delete(row)
    for key in sorted(wanted - have):
        db.session.add(Binding(tenant_id=tenant.id, user_id=user_id, role=key, source=source))
    if wanted != have:
        db.session.flush()
        audit.record(
            "iam.role.synced",
            "user",
            str(user_id),
            tenant=tenant,
            details={"roles": sorted(wanted), "source": source},
        )
