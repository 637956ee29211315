"""TM's public face: tenants, members, invitations, quotas.

Services take the tenant explicitly, flush and never commit. Roles live in IAM as role
bindings; TM asks ``iam.services`` to bind them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa

from taiji.modules.iam import services as iam
from taiji.platform import audit, events, quotas
from taiji.platform.auth import Principal, TenantRole
from taiji.platform.db import Page, db, paginate
from taiji.platform.errors import Conflict, Forbidden, Invalid, NotFound, field_error, msg
from taiji.platform.tenancy import RESERVED_SLUGS, SLUG_PATTERN, Tenant, TenantStatus, tenant_by_slug

from .models import Member

MEMBERS_METER = "members"


# -- tenants -----------------------------------------------------------------------------------


def validate_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not re.match(SLUG_PATTERN, slug):
        raise field_error("slug", msg("Use 1 to 40 lowercase letters, digits and dashes, starting and "
                                      "ending with a letter or digit."))
    if slug in RESERVED_SLUGS:
        raise field_error("slug", msg("'%(slug)s' is reserved; choose another.", slug=slug))
    return slug


def _search_text(text: str | None) -> str | None:
    """A search box's text as the database can compare it (PostgreSQL refuses NUL)."""
    return (text or "").replace("\x00", "").strip() or None


def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if "\x00" in name:
        raise field_error("name", msg("Must not contain the NUL character."))
    if not name:
        raise field_error("name", msg("A name is required."))
    if len(name) > 100:
        raise field_error("name", msg("Use at most 100 characters."))
    return name


def create_tenant(slug: str, name: str, *, owner_id: int) -> Tenant:
    """Create a tenant with ``owner_id`` as its first owner; publishes ``tm.tenant.created``.

    Runs the provisioning saga inline (``provisioning.provision``): the caller's unit of work is
    committed first, and each step commits its own.
    """
    from . import provisioning

    slug = validate_slug(slug)
    name = _validate_name(name)
    if tenant_by_slug(slug) is not None:
        raise Conflict(msg("The slug '%(slug)s' is taken.",
                           slug=slug), errors={"json": {"slug": [msg("Already taken.")]}})
    owner = iam.get_user(owner_id)
    if owner is None:
        raise field_error("owner", msg("No such user."))
    return provisioning.provision(slug, name, owner_id, created_by=owner.email)


def get_tenant(slug: str) -> Tenant:
    tenant = tenant_by_slug(slug) if re.match(SLUG_PATTERN, slug or "") else None
    if tenant is None:
        raise NotFound(msg("No tenant '%(slug)s'.", slug=slug))
    return tenant


def list_tenants(principal: Principal, *, search: str | None = None, status: str | None = None,
                 page: int = 1, page_size: int = 20) -> Page[Tenant]:
    """The caller's tenants; every tenant for a platform administrator."""
    stmt = sa.select(Tenant).order_by(Tenant.slug)
    search = _search_text(search)
    if not principal.is_admin:
        mine = sa.select(Member.tenant_id).where(Member.user_id == principal.user_id)
        stmt = stmt.where(Tenant.id.in_(mine))
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(sa.or_(Tenant.slug.like(pattern), sa.func.lower(Tenant.name).like(pattern)))
    if status:
        if status not in {s.value for s in TenantStatus}:
            raise field_error("status", msg("Use 'active' or 'suspended'."))
        stmt = stmt.where(Tenant.status == TenantStatus(status))
    return paginate(stmt, page, page_size)


def rename_tenant(tenant: Tenant, name: str) -> Tenant:
    name = _validate_name(name)
    if name != tenant.name:
        old = tenant.name
        tenant.name = name
        audit.record("tm.tenant.renamed", "tenant", tenant.slug, tenant=tenant,
                     details={"from": old, "to": name})
        db.session.flush()
    return tenant


def set_tenant_status(tenant: Tenant, status: TenantStatus) -> Tenant:
    """Suspend (members lose access, data is kept) or reactivate a tenant."""
    if tenant.status != status:
        tenant.status = status
        action = "suspended" if status == TenantStatus.SUSPENDED else "reactivated"
        audit.record(f"tm.tenant.{action}", "tenant", tenant.slug, tenant=tenant)
        events.publish(f"tm.tenant.{action}", {"tenant": tenant.slug, "tenant_id": tenant.id}, tenant=tenant)
        db.session.flush()
    return tenant


def set_mfa_required(tenant: Tenant, required: bool) -> Tenant:
    """Require (or stop requiring) two-factor authentication of everyone opening the tenant."""
    if tenant.mfa_required != required:
        tenant.mfa_required = required
        audit.record("tm.tenant.mfa_required" if required else "tm.tenant.mfa_optional", "tenant",
                     tenant.slug, tenant=tenant)
        db.session.flush()
    return tenant


def count_tenants() -> int:
    return db.session.execute(sa.select(sa.func.count(Tenant.id))).scalar_one()


# -- members -----------------------------------------------------------------------------------


@dataclass
class MemberView:
    user_id: int
    email: str
    name: str
    role: str
    joined_at: dt.datetime


def _member_row(tenant: Tenant, user_id: int) -> Member | None:
    return db.session.execute(
        sa.select(Member).where(Member.tenant_id == tenant.id, Member.user_id == user_id)
    ).scalar_one_or_none()


def count_members(tenant: Tenant) -> int:
    return db.session.execute(
        sa.select(sa.func.count(Member.id)).where(Member.tenant_id == tenant.id)
    ).scalar_one()


def _add_member(tenant: Tenant, user_id: int, role: str, invited_by_id: int | None) -> Member:
    quotas.check(tenant, MEMBERS_METER)
    member = Member(tenant_id=tenant.id, user_id=user_id, invited_by_id=invited_by_id)
    db.session.add(member)
    iam.set_tenant_role(user_id, tenant, str(role))
    db.session.flush()
    user = iam.get_user(user_id)
    audit.record("tm.member.added", "member", user.email, tenant=tenant, details={"role": str(role)})
    events.publish("tm.member.added", {"tenant": tenant.slug, "tenant_id": tenant.id, "user_id": user_id,
                                        "email": user.email, "role": str(role)}, tenant=tenant)
    return member


def record_member(tenant_id: int, user_id: int, role: str) -> bool:
    """Add the member row for someone IAM already bound to the tenant (directory sign-in).

    Returns whether a row was added; a second delivery of the same news adds nothing.
    """
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or iam.get_user(user_id) is None or _member_row(tenant, user_id) is not None:
        return False
    db.session.add(Member(tenant_id=tenant.id, user_id=user_id, invited_by_id=None))
    db.session.flush()
    user = iam.get_user(user_id)
    audit.record("tm.member.added", "member", user.email, tenant=tenant,
                 details={"role": role, "source": "directory"})
    events.publish("tm.member.added", {"tenant": tenant.slug, "tenant_id": tenant.id, "user_id": user_id,
                                        "email": user.email, "role": role}, tenant=tenant)
    return True


def list_members(tenant: Tenant, *, search: str | None = None, role: str | None = None,
                 page: int = 1, page_size: int = 20) -> Page[MemberView]:
    # Columns, not Member objects: a page of a list is read, never changed, and loading objects
    # cost more CPU than the query.
    stmt = (sa.select(Member.user_id, Member.joined_at).where(Member.tenant_id == tenant.id)
            .order_by(Member.joined_at, Member.id))
    if role or search:
        roles = iam.tenant_roles(tenant)
        ids = set(roles) if not role else {uid for uid, r in roles.items() if r == role}
        if search:
            users = iam.users_by_ids(ids)
            needle = search.lower()
            ids = {uid for uid in ids if uid in users and (needle in users[uid].email or
                                                           needle in users[uid].name.lower())}
        stmt = stmt.where(Member.user_id.in_(ids))
    page_ = paginate(stmt, page, page_size, scalars=False)
    profiles = iam.member_profiles(tenant, [user_id for user_id, _ in page_.items])
    items = [MemberView(user_id, profiles[user_id].email, profiles[user_id].name,
                        profiles[user_id].role or TenantRole.VIEWER.value, joined_at)
             for user_id, joined_at in page_.items if user_id in profiles]
    return Page(items=items, total=page_.total, page=page_.page, page_size=page_.page_size)


def get_member(tenant: Tenant, user_id: int) -> MemberView:
    row = _member_row(tenant, user_id)
    if row is None:
        raise NotFound(msg("User %(user_id)s is not a member of this tenant.", user_id=user_id))
    user = iam.get_user(user_id)
    role = iam.tenant_roles(tenant, [user_id]).get(user_id, TenantRole.VIEWER.value)
    return MemberView(user_id, user.email, user.name, role, row.joined_at)


def _acting_role(tenant: Tenant, actor: Principal) -> str | None:
    if actor.is_admin:
        return TenantRole.OWNER.value
    return iam.tenant_roles(tenant, [actor.user_id]).get(actor.user_id)


def add_member(tenant: Tenant, email: str, role: str, *, actor: Principal) -> MemberView:
    """Make an existing user a member at once, without asking them.

    Only for trusted code running in the server (tests, seeding); no HTTP route calls it, since
    nobody may be put into a tenant without consenting, and its 404 for an unknown address would
    tell an owner which emails have accounts. Routes call ``invite``.
    """
    _check_role_grant(tenant, role, actor)
    user = iam.get_user_by_email(iam.normalize_email(email))
    if user is None:
        raise NotFound(msg("No user with the email %(email)s; send an invitation instead.", email=email))
    if _member_row(tenant, user.id) is not None:
        raise Conflict(msg("%(user_email)s is already a member.", user_email=user.email))
    _add_member(tenant, user.id, role, invited_by_id=actor.user_id)
    return get_member(tenant, user.id)


def _check_role_grant(tenant: Tenant, role: str, actor: Principal) -> None:
    if role not in {r.value for r in TenantRole}:
        raise field_error("role", msg("Unknown role '%(role)s'; choose one of owner, admin, member, "
                                      "viewer.", role=role))
    if role == TenantRole.OWNER and _acting_role(tenant, actor) != TenantRole.OWNER:
        raise Forbidden(msg("Only an owner can make someone an owner."))


def change_role(tenant: Tenant, user_id: int, role: str, *, actor: Principal) -> MemberView:
    member = get_member(tenant, user_id)
    _check_role_grant(tenant, role, actor)
    if member.role == role:
        return member
    if member.role == TenantRole.OWNER:
        if _acting_role(tenant, actor) != TenantRole.OWNER:
            raise Forbidden(msg("Only an owner can change an owner's role."))
        if iam.count_with_role(tenant, TenantRole.OWNER) <= 1:
            raise Conflict(msg("This is the tenant's last owner. Make another member an owner first."))
    iam.set_tenant_role(user_id, tenant, role)
    audit.record("tm.member.role_changed", "member", member.email, tenant=tenant,
                 details={"from": member.role, "to": role})
    return get_member(tenant, user_id)


def remove_member(tenant: Tenant, user_id: int, *, actor: Principal) -> None:
    """Remove a member (or let a member leave); never the last owner."""
    member = get_member(tenant, user_id)
    if member.role == TenantRole.OWNER:
        if user_id != actor.user_id and _acting_role(tenant, actor) != TenantRole.OWNER:
            raise Forbidden(msg("Only an owner can remove an owner."))
        if iam.count_with_role(tenant, TenantRole.OWNER) <= 1:
            raise Conflict(msg("This is the tenant's last owner. Make another member an owner first."))
    db.session.execute(sa.delete(Member).where(Member.tenant_id == tenant.id, Member.user_id == user_id))
    iam.remove_tenant_roles(user_id, tenant)
    audit.record("tm.member.removed", "member", member.email, tenant=tenant, details={"role": member.role})
    events.publish("tm.member.removed", {"tenant": tenant.slug, "tenant_id": tenant.id, "user_id": user_id,
                                          "email": member.email}, tenant=tenant)
    db.session.flush()


# -- quotas and audit --------------------------------------------------------------------------


def quota_usage(tenant: Tenant) -> list[dict]:
    return quotas.usage(tenant)


def set_quota(tenant: Tenant, name: str, limit: int | None) -> None:
    if name not in {m.name for m in quotas.meters()}:
        raise NotFound(msg("No quota '%(name)s'.", name=name))
    if limit is not None and limit < 0:
        raise Invalid(msg("A limit cannot be negative."),
                      errors={"json": {"limit": [msg("Must be 0 or more.")]}})
    quotas.set_limit(tenant, name, limit)
    audit.record("tm.quota.changed", "quota", name, tenant=tenant, details={"limit": limit})


def audit_log(tenant: Tenant | None, *, action: str | None = None, actor: str | None = None,
              since=None, until=None, page: int = 1, page_size: int = 20):
    """The audit log newest first: one tenant's, or every entry when ``tenant`` is None; filtered by
    action (its beginning), actor (an email address) and moments (``since`` included, ``until`` not)."""
    return audit.query(tenant=tenant, action=_search_text(action), actor_email=_search_text(actor),
                       since=since, until=until, page=page, page_size=page_size)


def quota_meters() -> list:
    """TM's quota meters (Module.quota_meters)."""
    from flask_babel import lazy_gettext as _l

    return [quotas.Meter(MEMBERS_METER, _l("Members"), 500, count_members)]


# Invitations live in their own file (they build on the member functions above); other modules
# keep reaching them here, through this file.
from .invitations import (  # noqa: E402
    InvitationView,
    UnverifiedEmail,
    accept_invitation,
    accept_my_invitation,
    can_answer_invitations,
    count_pending_invitations,
    decline_my_invitation,
    find_invitation,
    invitation_url,
    invite,
    list_invitations,
    pending_invitations_for,
    register_and_accept,
    revoke_invitation,
)

__all__ = ["InvitationView", "UnverifiedEmail", "accept_invitation", "accept_my_invitation",
           "can_answer_invitations", "count_pending_invitations",
           "decline_my_invitation", "find_invitation", "invitation_url", "invite", "list_invitations",
           "pending_invitations_for", "register_and_accept", "revoke_invitation"]
