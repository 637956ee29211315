"""Which directory may check a password, and which accounts a directory may create.

A password typed at the sign-in page goes to at most one directory, chosen from Taiji's own
data before any connection is made:

1. an account a directory created (its ``DirectoryAccount`` link) is checked by that directory;
2. an email without an account is checked by the directory of the tenant that has verified the
   email's domain (``domains.py``) — and, when the person named an organisation on the sign-in
   form, only if that is the same tenant;
3. anything else (an account with a Taiji password, an unverified domain, a disabled directory,
   a suspended tenant) is checked by no directory at all.

So a tenant that points its directory at a server it controls sees the passwords of its own
users only. A directory creates accounts only for emails in a domain its tenant has verified,
and never takes over an account that exists. Binds are rate-limited per directory and per
account, and each is audited in the directory's tenant with its outcome — never the password.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from taiji.platform import audit, events, ratelimit, tenancy
from taiji.platform.auth import TenantRole
from taiji.platform.db import db, utcnow
from taiji.platform.errors import Invalid

from .. import services as iam
from ..models import User
from ..roles import services as roles
from . import connect, domains
from .models import Directory, DirectoryAccount
from .services import bind_password, directory_of

MEMBER_JOINED = "iam.directory.member_joined"
SOURCE = "ldap"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    dn: str
    email: str
    name: str
    groups: set[str]


# -- choosing the directory (no network) --------------------------------------------------------


def route(email: str, user: User | None, organisation: str | None = None) -> Directory | None:
    """The one directory that may check a password for ``email``, or None."""
    if user is not None:
        if user.password_hash:
            return None
        directory_id = db.session.execute(
            sa.select(DirectoryAccount.directory_id).where(DirectoryAccount.user_id == user.id)
            .order_by(DirectoryAccount.id).limit(1)
        ).scalar_one_or_none()
        row = db.session.get(Directory, directory_id) if directory_id is not None else None
    else:
        holder = domains.owner_tenant_id(email.rpartition("@")[2])
        if holder is None:
            return None
        if organisation:
            slug = organisation.strip().lower()
            chosen = tenancy.tenant_by_slug(slug) if re.fullmatch(tenancy.SLUG_PATTERN, slug) else None
            if chosen is None or chosen.id != holder:
                return None
        row = directory_of(holder)
    if row is None or not row.enabled:
        return None
    tenant = next(iter(tenancy.tenants_by_ids([row.tenant_id])), None)
    return row if tenant is not None and tenant.is_active else None


# -- asking it --------------------------------------------------------------------------------


def _bind_audit(row: Directory, email: str, outcome: str, reason: str | None = None) -> None:
    details = {"directory": row.url, "outcome": outcome}
    if reason:
        details["reason"] = reason[:300]
    audit.record("iam.ldap.bind", "user", email, tenant=row.tenant_id, details=details)


def _within_limits(row: Directory, email: str, trusted: bool) -> bool:
    """Binds per directory (all accounts) and per account; a client the account trusts is spared
    the per-account limit, so others' failures cannot keep the owner out."""
    config = current_app.config
    if not trusted and not ratelimit.hit(config["IAM_LDAP_BIND_RATE_LIMIT"], "iam-ldap-account", email):
        return False
    return ratelimit.hit(config["IAM_LDAP_DIRECTORY_RATE_LIMIT"], "iam-ldap-directory", str(row.id))


def _lookup(row: Directory, email: str, password: str) -> Entry | str:
    """The entry when the directory knows this email with this password, else why not."""
    from ldap3.utils.conv import escape_filter_chars

    pinned, _target = connect.server(row.url, row.ca_certificate)
    service = connect.connection(pinned, row.bind_dn, bind_password(row))
    if not service.bind():
        log.warning("directory of tenant %s: service bind failed: %s", row.tenant_id,
                    service.result.get("description"))
        return "service-bind-refused"
    try:
        wanted = f"(&{row.user_filter}({row.email_attribute}={escape_filter_chars(email)}))"
        service.search(row.user_base, wanted, attributes=[row.email_attribute, row.name_attribute],
                       size_limit=2)
        if len(service.entries) != 1:
            return "no-entry" if not service.entries else "several-entries"
        entry = service.entries[0]
        dn = entry.entry_dn
        user = connect.connection(pinned, dn, password)
        if not user.bind():
            return "wrong-password"
        user.unbind()
        groups: set[str] = set()
        if row.group_base:
            service.search(
                row.group_base,
                f"(&{row.group_filter}({row.member_attribute}={escape_filter_chars(dn)}))",
                attributes=["cn"],
            )
            groups = {str(value) for g in service.entries for value in g.cn.values}
        name = entry[row.name_attribute].value if row.name_attribute in entry.entry_attributes else None
        return Entry(dn, email, str(name or email.split("@")[0]), groups)
    finally:
        service.unbind()


def _account(row: Directory, entry: Entry) -> User | None:
    link = db.session.execute(
        sa.select(DirectoryAccount)
        .where(DirectoryAccount.directory_id == row.id, DirectoryAccount.dn == entry.dn)
    ).scalar_one_or_none()
    in_verified_domain = domains.owner_tenant_id(entry.email.rpartition("@")[2]) == row.tenant_id
    if link is not None:
        user = iam.get_user(link.user_id)
    else:
        if not in_verified_domain:
            _bind_audit(row, entry.email, "refused", "the tenant has not verified this email's domain")
            return None
        if iam.get_user_by_email(entry.email) is not None:
            log.warning("directory of tenant %s: %s belongs to an account it did not create",
                        row.tenant_id, entry.email)
            _bind_audit(row, entry.email, "refused", "an account the directory did not create")
            return None
        user = iam.create_user(entry.email, entry.name)
        link = DirectoryAccount(directory_id=row.id, user_id=user.id, dn=entry.dn)
        db.session.add(link)
    if user is None or not user.is_active:
        return None
    if in_verified_domain and user.email == entry.email:
        # The tenant proved it holds the domain, and its directory vouches for the mailbox.
        iam.mark_email_verified(user, "directory", actor=user)
    if entry.name and user.name != entry.name[:255]:
        user.name = entry.name[:255]
    link.synced_at = utcnow()
    return user


def _sync(row: Directory, user: User, groups: set[str]) -> None:
    tenant = next(iter(tenancy.tenants_by_ids([row.tenant_id])), None)
    if tenant is None:
        return
    if not iam.tenant_roles(tenant, [user.id]):
        iam.set_tenant_role(user.id, tenant, row.default_role)
        # TM keeps the member list and sits above IAM: it hears of the newcomer by event.
        events.publish(MEMBER_JOINED, {"tenant_id": tenant.id, "user_id": user.id, "role": row.default_role},
                       tenant=tenant)
    mapped = {role for group, role in (row.group_roles or {}).items() if group in groups}
    roles.sync_user_bindings(tenant, user.id, mapped - {TenantRole.OWNER.value}, source=SOURCE)


def authenticate_ldap(email: str, password: str, *, organisation: str | None = None,
                      trusted: bool = False) -> User | None:
    """The user the one directory chosen for ``email`` (``route``) signs in, or None.

    ``organisation``: the tenant named on the sign-in form, if any. ``trusted``: the client has
    signed in to this account before (it is spared the per-account bind limit). Outages,
    refusals and servers that are not LDAP are audited and treated as "not accepted".
    """
    if not password or not email or "\x00" in email + password:
        return None
    try:
        email = iam.normalize_email(email)
    except Invalid:  # an invalid email simply signs no one in
        return None
    row = route(email, iam.get_user_by_email(email), organisation)
    if row is None:
        return None
    if not _within_limits(row, email, trusted):
        _bind_audit(row, email, "throttled")
        return None
    try:
        found = _lookup(row, email, password)
    except Exception as exc:
        reason = connect.explain(exc, row.url)
        log.warning("directory of tenant %s: %s", row.tenant_id, reason)
        _bind_audit(row, email, "unavailable", reason)
        return None
    if isinstance(found, str):
        _bind_audit(row, email, "refused", found)
        return None
    user = _account(row, found)
    if user is None:
        return None
    _sync(row, user, found.groups)
    user.last_login_at = utcnow()
    _bind_audit(row, email, "accepted")
    audit.record("iam.ldap.signed_in", "user", user.email, actor=None)
    db.session.flush()
    return user
