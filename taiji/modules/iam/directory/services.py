"""Sign-in through a tenant's upstream LDAP directory.

A tenant's owner configures the directory; the service bind password is sealed at rest with
``taiji.platform.crypto``. Signing in binds as the service account, finds the
entry by its email attribute, binds as that entry with the given password, then creates or updates
the local account and sets the user's directory-sourced role bindings from their groups.

An upstream directory only ever signs in accounts it created: an email that already belongs to a
local account (or to another tenant's directory) is refused, or a tenant's administrator could
take over anyone's account by adding an entry with their email to their own directory.
"""

from __future__ import annotations

import logging

import ldap3
import sqlalchemy as sa
from flask_babel import gettext as _
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from taiji.platform import audit, crypto, events, tenancy
from taiji.platform.auth import TenantRole
from taiji.platform.crypto import InvalidToken
from taiji.platform.db import db, utcnow
from taiji.platform.errors import NotFound, field_error

from .. import services as iam
from ..models import User
from ..roles import services as roles
from .models import Directory, DirectoryAccount

MEMBER_JOINED = "iam.directory.member_joined"

log = logging.getLogger(__name__)
SOURCE = "ldap"
TIMEOUT = 5  # seconds; a directory that hangs must not hang the login page for long
_FIELDS = (
    "enabled",
    "url",
    "bind_dn",
    "user_base",
    "user_filter",
    "email_attribute",
    "name_attribute",
    "group_base",
    "group_filter",
    "member_attribute",
    "group_roles",
    "default_role",
)


_PURPOSE = "iam.directory.bind-password"


def _bind_password(row: Directory) -> str:
    if not row.bind_password_encrypted:
        return ""
    try:
        return crypto.unseal(row.bind_password_encrypted, _PURPOSE).decode()
    except InvalidToken:  # SECRET_KEY changed: the owner must enter the password again
        log.warning("directory of tenant %s: bind password cannot be decrypted", row.tenant_id)
        return ""


# -- configuration ----------------------------------------------------------------------------


def get_directory(tenant) -> Directory:
    row = db.session.execute(
        sa.select(Directory).where(Directory.tenant_id == tenant.id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("This tenant has no upstream directory.")
    return row


def find_directory(tenant) -> Directory | None:
    return db.session.execute(
        sa.select(Directory).where(Directory.tenant_id == tenant.id)
    ).scalar_one_or_none()


def describe(row: Directory | None) -> dict:
    """The configuration as shown to its owners: never the password, only whether one is set.

    A tenant without a directory gets the defaults with ``configured`` false, ready to fill in.
    """
    if row is None:
        defaults = {
            c.name: c.default.arg
            for c in Directory.__table__.columns
            if c.name in _FIELDS and c.default is not None and not callable(c.default.arg)
        }
        out = {name: defaults.get(name, "") for name in _FIELDS}
        out.update(enabled=False, group_roles={}, configured=False, has_bind_password=False, updated_at=None)
        return out
    out = {name: getattr(row, name) for name in _FIELDS}
    out.update(
        configured=True, has_bind_password=bool(row.bind_password_encrypted), updated_at=row.updated_at
    )
    return out


def configure(tenant, data: dict) -> Directory:
    """Create or replace the tenant's directory settings (an omitted bind_password keeps the old one)."""
    if not data["url"].startswith(("ldap://", "ldaps://")):
        raise field_error("url", "Use an ldap:// or ldaps:// URL.")
    known = set(roles.BUILTIN) - {TenantRole.OWNER.value}
    default_role = data.get("default_role") or TenantRole.MEMBER.value
    if default_role not in known:
        raise field_error("default_role", "Choose admin, member or viewer.")
    for group, role in (data.get("group_roles") or {}).items():
        if role == TenantRole.OWNER.value:
            raise field_error("group_roles", f"Group {group}: the owner role cannot come from a directory.")
        roles.get_role(tenant, role)  # NotFound names the unknown role
    for name in ("user_filter", "group_filter"):
        value = data.get(name)
        if value and not (value.startswith("(") and value.endswith(")")):
            raise field_error(name, "An LDAP filter is written in parentheses, e.g. (objectClass=person).")
    row = db.session.execute(
        sa.select(Directory).where(Directory.tenant_id == tenant.id)
    ).scalar_one_or_none()
    if row is None:
        row = Directory(tenant_id=tenant.id)
        db.session.add(row)
    for name in _FIELDS:
        if name in data and data[name] is not None:
            setattr(row, name, data[name])
    row.default_role = default_role
    if data.get("bind_password") is not None:
        row.bind_password_encrypted = crypto.seal(data["bind_password"], _PURPOSE)
    db.session.flush()
    audit.record(
        "iam.directory.configured",
        "directory",
        row.url,
        tenant=tenant,
        details={"enabled": row.enabled, "group_roles": row.group_roles},
    )
    return row


def remove(tenant) -> None:
    row = get_directory(tenant)
    db.session.delete(row)
    db.session.flush()
    audit.record("iam.directory.removed", "directory", row.url, tenant=tenant)


def test_connection(tenant) -> dict:
    """Bind as the service account and count the entries the user filter finds (a dry run).

    Answers ``{"ok": bool, "message": str, "users": int | None}``; a directory that cannot be
    reached is an answer, not an error, so the settings page can show what went wrong.
    """
    row = get_directory(tenant)
    try:
        server = ldap3.Server(row.url.rstrip("/"), connect_timeout=TIMEOUT, get_info=ldap3.NONE)
        service = ldap3.Connection(server, row.bind_dn or None, _bind_password(row) or None,
                                   receive_timeout=TIMEOUT, read_only=True)
        if not service.bind():
            result = {"ok": False, "users": None,
                      "message": _("The service bind was refused: %(reason)s.",
                                   reason=service.result.get("description"))}
        else:
            try:
                service.search(row.user_base, row.user_filter, attributes=[row.email_attribute],
                               size_limit=1000)
                found = len(service.entries)
                result = {"ok": True, "users": found,
                          "message": _("Connected; the user filter finds %(count)s entries under %(base)s.",
                                       count=found, base=row.user_base)}
            finally:
                service.unbind()
    except LDAPException as exc:
        result = {"ok": False, "users": None,
                  "message": _("Cannot reach the directory: %(reason)s.", reason=exc)}
    audit.record("iam.directory.tested", "directory", row.url, tenant=tenant, details={"ok": result["ok"]})
    return result


# -- sign-in ----------------------------------------------------------------------------------


def _lookup(row: Directory, email: str, password: str) -> tuple[str, str, str, set[str]] | None:
    """(dn, email, name, group names) when the directory knows this email with this password."""
    # ldap3 reads "host:port/" as a port with a slash in it; the URL form with a path is still valid LDAP.
    server = ldap3.Server(row.url.rstrip("/"), connect_timeout=TIMEOUT, get_info=ldap3.NONE)
    service = ldap3.Connection(
        server, row.bind_dn or None, _bind_password(row) or None, receive_timeout=TIMEOUT, read_only=True
    )
    if not service.bind():
        log.warning("directory of tenant %s: service bind failed: %s", row.tenant_id, service.result)
        return None
    try:
        wanted = f"(&{row.user_filter}({row.email_attribute}={escape_filter_chars(email)}))"
        service.search(
            row.user_base, wanted, attributes=[row.email_attribute, row.name_attribute], size_limit=2
        )
        if len(service.entries) != 1:
            return None
        entry = service.entries[0]
        dn = entry.entry_dn
        user = ldap3.Connection(server, dn, password, receive_timeout=TIMEOUT, read_only=True)
        if not user.bind():
            return None
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
        return dn, email, str(name or email.split("@")[0]), groups
    finally:
        service.unbind()


def _account(row: Directory, dn: str, email: str, name: str) -> User | None:
    link = db.session.execute(
        sa.select(DirectoryAccount).where(DirectoryAccount.directory_id == row.id, DirectoryAccount.dn == dn)
    ).scalar_one_or_none()
    if link is not None:
        user = iam.get_user(link.user_id)
    else:
        if iam.get_user_by_email(email) is not None:
            log.warning(
                "directory of tenant %s: %s belongs to an account it did not create", row.tenant_id, email
            )
            audit.record("iam.ldap.refused", "user", email, details={"reason": "existing local account"})
            return None
        user = iam.create_user(email, name)
        link = DirectoryAccount(directory_id=row.id, user_id=user.id, dn=dn)
        db.session.add(link)
    if user is None or not user.is_active:
        return None
    if name and user.name != name[:255]:
        user.name = name[:255]
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


def authenticate_ldap(email: str, password: str) -> User | None:
    """The user signed in by the upstream directory of some tenant that enables it, or None.

    Tries every enabled directory; each one that accepts the password updates the user's
    bindings in its tenant. Directory outages are logged and treated as "not accepted".
    """
    if not password or not email or "\x00" in email + password:
        return None
    try:
        email = iam.normalize_email(email)
    except Exception:  # an invalid email simply signs no one in
        return None
    user = None
    directories = db.session.execute(sa.select(Directory).where(Directory.enabled.is_(True))).scalars().all()
    for row in directories:
        try:
            found = _lookup(row, email, password)
        except LDAPException as exc:
            log.warning("directory of tenant %s unreachable: %s", row.tenant_id, exc)
            continue
        if found is None:
            continue
        dn, mail, name, groups = found
        account = _account(row, dn, mail, name)
        if account is None or (user is not None and account.id != user.id):
            continue
        user = account
        _sync(row, user, groups)
    if user is not None:
        user.last_login_at = utcnow()
        audit.record("iam.ldap.signed_in", "user", user.email, actor=None)
        db.session.flush()
    return user


def has_directories() -> bool:
    """Cheap check the password sign-in makes before trying any directory."""
    return (
        db.session.execute(sa.select(Directory.id).where(Directory.enabled.is_(True)).limit(1)).first()
        is not None
    )
