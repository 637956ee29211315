"""A tenant's upstream LDAP directory: its settings and the connection test.

A tenant's owner configures the directory; the service bind password is sealed at rest with
``taiji.platform.crypto``. Where Taiji may connect and how is ``connect.py``; which directory a
password is sent to at sign-in, and which accounts a directory may create, is ``accounts.py``;
the email domains a tenant has proven are its own are ``domains.py``.
"""

from __future__ import annotations

import logging
import ssl

import sqlalchemy as sa
from flask_babel import gettext as _

from taiji.platform import audit, crypto
from taiji.platform.auth import TenantRole
from taiji.platform.crypto import InvalidToken
from taiji.platform.db import db
from taiji.platform.errors import NotFound, field_error, msg

from ..roles import services as roles
from . import connect
from .models import Directory

log = logging.getLogger(__name__)
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
    "ca_certificate",
)
# Everything that ends up in an LDAP request or names where it goes: none may hold a control character.
_TEXT_FIELDS = ("url", "bind_dn", "bind_password", "user_base", "user_filter", "email_attribute",
                "name_attribute", "group_base", "group_filter", "member_attribute", "default_role")
_PURPOSE = "iam.directory.bind-password"


def bind_password(row: Directory) -> str:
    if not row.bind_password_encrypted:
        return ""
    try:
        return crypto.unseal(row.bind_password_encrypted, _PURPOSE).decode()
    except InvalidToken:  # SECRET_KEY changed: the owner must enter the password again
        log.warning("directory of tenant %s: bind password cannot be decrypted", row.tenant_id)
        return ""


# -- configuration ----------------------------------------------------------------------------


def get_directory(tenant) -> Directory:
    row = find_directory(tenant)
    if row is None:
        raise NotFound(msg("This tenant has no upstream directory."))
    return row


def find_directory(tenant) -> Directory | None:
    return directory_of(tenant.id)


def directory_of(tenant_id: int) -> Directory | None:
    return db.session.execute(
        sa.select(Directory).where(Directory.tenant_id == tenant_id)
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


def _check_text(data: dict) -> None:
    for name in _TEXT_FIELDS:
        if connect.has_control_characters(data.get(name)):
            raise field_error(name, msg("Must not contain control characters (line breaks, NUL, tabs …)."))
    for group, role in (data.get("group_roles") or {}).items():
        if connect.has_control_characters(group) or connect.has_control_characters(role):
            raise field_error("group_roles", msg("Group and role names must not contain control characters."))


def _check_ca(pem: str) -> None:
    if not pem:
        return
    if "\x00" in pem:
        raise field_error("ca_certificate", msg("Must not contain the NUL character."))
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise field_error("ca_certificate",
                          msg("Paste one or more PEM certificates (-----BEGIN CERTIFICATE-----).")) from None


def configure(tenant, data: dict) -> Directory:
    """Create or replace the tenant's directory settings (an omitted bind_password keeps the old one).

    The URL must be one Taiji may connect to (``connect.py``); a name that does not resolve from
    here yet is accepted, and checked again before every connection.
    """
    _check_text(data)
    refused = connect.refusal(data.get("url") or "", unresolved_ok=True)
    if refused:
        raise field_error("url", refused)
    known = set(roles.BUILTIN) - {TenantRole.OWNER.value}
    default_role = data.get("default_role") or TenantRole.MEMBER.value
    if default_role not in known:
        raise field_error("default_role", msg("Choose admin, member or viewer."))
    for group, role in (data.get("group_roles") or {}).items():
        if role == TenantRole.OWNER.value:
            raise field_error("group_roles", msg("Group %(group)s: the owner role cannot come from a "
                                                 "directory.", group=group))
        roles.get_role(tenant, role)  # NotFound names the unknown role
    for name in ("user_filter", "group_filter"):
        value = data.get(name)
        if value and not (value.startswith("(") and value.endswith(")")):
            raise field_error(name, msg("An LDAP filter is written in parentheses, e.g. "
                                        "(objectClass=person)."))
    data = {**data, "ca_certificate": (data.get("ca_certificate") or "").strip()}
    _check_ca(data["ca_certificate"])
    row = find_directory(tenant)
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
    reached — or may not be, or is no LDAP server — is an answer, not an error, so the settings
    page can show what went wrong.
    """
    row = get_directory(tenant)
    try:
        result = _try(row)
    except Exception as exc:
        result = {"ok": False, "users": None,
                  "message": _("Cannot use the directory: %(reason)s", reason=connect.explain(exc, row.url))}
    audit.record("iam.directory.tested", "directory", row.url, tenant=tenant, details={"ok": result["ok"]})
    return result


def _try(row: Directory) -> dict:
    pinned, _target = connect.server(row.url, row.ca_certificate)
    service = connect.connection(pinned, row.bind_dn, bind_password(row))
    if not service.bind():
        return {"ok": False, "users": None,
                "message": _("The service bind was refused: %(reason)s.",
                             reason=service.result.get("description"))}
    try:
        service.search(row.user_base, row.user_filter, attributes=[row.email_attribute], size_limit=1000)
        found = len(service.entries)
        if service.result.get("result") not in (0, 4):  # success, or sizeLimitExceeded with entries
            return {"ok": False, "users": None,
                    "message": _("The search under %(base)s failed: %(reason)s.", base=row.user_base,
                                 reason=service.result.get("description"))}
        return {"ok": True, "users": found,
                "message": _("Connected; the user filter finds %(count)s entries under %(base)s.",
                             count=found, base=row.user_base)}
    finally:
        service.unbind()


def has_directories() -> bool:
    """Cheap check the password sign-in makes before looking for a directory."""
    return (
        db.session.execute(sa.select(Directory.id).where(Directory.enabled.is_(True)).limit(1)).first()
        is not None
    )
