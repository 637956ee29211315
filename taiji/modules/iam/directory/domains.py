"""Email domains a tenant's directory may sign in, and how a tenant proves a domain is its own.

A tenant's owner adds a domain and receives a challenge. Publishing it in DNS as

    _taiji-verification.<domain>.  TXT  "taiji-verification=<token>"

and asking Taiji to check proves control of the domain. A platform administrator may approve a
claim instead (a domain without public DNS). A domain is verified for at most one tenant; other
tenants' claims on it stay pending. Only a verified domain lets a directory create accounts,
and only the tenant that verified a domain receives the passwords of its new users.

Verification covers exactly the domain named, not its subdomains.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from taiji.platform import audit, tenancy
from taiji.platform.db import Page, db, paginate, utcnow
from taiji.platform.errors import Conflict, Invalid, NotFound, field_error, msg

from .connect import has_control_characters
from .models import DirectoryDomain, DomainStatus

if TYPE_CHECKING:  # dnspython is imported where used: importing it costs every process's start-up
    import dns.nameserver
    import dns.resolver

RECORD_PREFIX = "_taiji-verification."
VALUE_PREFIX = "taiji-verification="
MAX_PER_TENANT = 50
DNS_TIMEOUT = 5.0  # seconds for one verification, all servers together


def normalize(name: str) -> str:
    """``name`` as stored: lower case, no trailing dot, IDNA (xn--) form; a field error otherwise."""
    text = (name or "").strip().lower().rstrip(".")
    if text.startswith("@"):
        text = text[1:]
    if not text or has_control_characters(text) or any(c.isspace() for c in text):
        raise field_error("domain", msg("Enter a domain name such as example.com."))
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise field_error("domain", msg("Enter a domain name such as example.com.")) from None
    labels = text.split(".")
    if (len(text) > 253 or len(labels) < 2
            or not all(0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
                       and not label.startswith("-") and not label.endswith("-") for label in labels)
            or labels[-1].isdigit()):
        raise field_error("domain", msg("Enter a domain name such as example.com (at least two labels)."))
    return text


def record_name(row: DirectoryDomain) -> str:
    return RECORD_PREFIX + row.domain


def record_value(row: DirectoryDomain) -> str:
    return VALUE_PREFIX + row.token


def describe(row: DirectoryDomain) -> dict:
    return {"id": row.id, "domain": row.domain, "status": row.status, "method": row.method,
            "record_name": record_name(row), "record_value": record_value(row),
            "verified_at": row.verified_at, "verified_by": row.verified_by, "checked_at": row.checked_at,
            "last_error": row.last_error, "created_at": row.created_at}


def list_domains(tenant) -> list[DirectoryDomain]:
    return list(db.session.execute(
        sa.select(DirectoryDomain).where(DirectoryDomain.tenant_id == tenant.id)
        .order_by(DirectoryDomain.domain)
    ).scalars())


def _find(tenant, domain: str) -> DirectoryDomain | None:
    return db.session.execute(
        sa.select(DirectoryDomain)
        .where(DirectoryDomain.tenant_id == tenant.id, DirectoryDomain.domain == domain)
    ).scalar_one_or_none()


def get_domain(tenant, name: str) -> DirectoryDomain:
    try:
        key = normalize(name)
    except Invalid:
        key = None
    row = None if key is None else _find(tenant, key)
    if row is None:
        raise NotFound(msg("This tenant has not added the domain %(name)s.", name=repr(name)))
    return row


def add_domain(tenant, name: str) -> DirectoryDomain:
    domain = normalize(name)
    if _find(tenant, domain) is not None:
        raise Conflict(msg("The domain %(domain)s is already on this tenant's list.", domain=domain),
                       errors={"json": {"domain": [msg("Already added.")]}})
    count = db.session.execute(
        sa.select(sa.func.count(DirectoryDomain.id)).where(DirectoryDomain.tenant_id == tenant.id)
    ).scalar_one()
    if count >= MAX_PER_TENANT:
        raise field_error("domain", msg("A tenant can add at most %(max_per_tenant)s domains.",
                                        max_per_tenant=MAX_PER_TENANT))
    row = DirectoryDomain(tenant_id=tenant.id, domain=domain, status=DomainStatus.PENDING,
                          token=secrets.token_urlsafe(24))
    db.session.add(row)
    db.session.flush()
    audit.record("iam.domain.added", "domain", domain, tenant=tenant)
    return row


def remove_domain(tenant, name: str) -> None:
    row = get_domain(tenant, name)
    db.session.delete(row)
    db.session.flush()
    audit.record("iam.domain.removed", "domain", row.domain, tenant=tenant, details={"was": row.status})


def owner_tenant_id(domain: str) -> int | None:
    """The tenant that holds ``domain`` verified, if any."""
    return db.session.execute(
        sa.select(DirectoryDomain.tenant_id).where(DirectoryDomain.verified_domain == domain.lower())
    ).scalar_one_or_none()


def _mark_verified(row: DirectoryDomain, method: str, by: str | None) -> None:
    holder = owner_tenant_id(row.domain)
    if holder is not None and holder != row.tenant_id:
        raise Conflict(msg("The domain %(domain)s is verified by another tenant; a platform administrator "
                           "can release it.", domain=row.domain))
    try:
        with db.session.begin_nested():
            row.status, row.verified_domain, row.method = DomainStatus.VERIFIED, row.domain, method
            row.verified_at, row.verified_by, row.last_error = utcnow(), by, None
            db.session.flush()
    except IntegrityError:  # another tenant's verification of the same domain won the race
        db.session.refresh(row)
        raise Conflict(msg("The domain %(domain)s is verified by another tenant.",
                           domain=row.domain)) from None


# -- proof through DNS -------------------------------------------------------------------------


def _nameserver(entry: str) -> dns.nameserver.Do53Nameserver:
    """``10.0.0.2``, ``127.0.0.1:5353``, ``::1`` or ``[::1]:5353``."""
    import dns.nameserver

    host, port = entry, 53
    if entry.startswith("["):
        host, _sep, rest = entry[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif entry.count(":") == 1:
        host, _sep, number = entry.partition(":")
        port = int(number)
    return dns.nameserver.Do53Nameserver(host, port)


def _resolver() -> dns.resolver.Resolver:
    import dns.resolver

    servers = tuple(current_app.config.get("DNS_NAMESERVERS") or ()) if has_app_context() else ()
    if not servers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_nameserver(entry) for entry in servers]
    resolver.lifetime = DNS_TIMEOUT
    resolver.timeout = DNS_TIMEOUT
    return resolver


def txt_values(name: str) -> list[str]:
    """The TXT strings published at ``name`` (each record's strings joined), or a ValueError saying
    why there are none."""
    import dns.exception
    import dns.name
    import dns.resolver

    try:
        answer = _resolver().resolve(dns.name.from_text(name), "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        raise ValueError(_("The name %(name)s does not exist in DNS (yet).", name=name)) from None
    except dns.resolver.NoAnswer:
        raise ValueError(_("%(name)s has no TXT record.", name=name)) from None
    except dns.exception.Timeout:
        raise ValueError(_("DNS did not answer for %(name)s in time; try again.", name=name)) from None
    except dns.resolver.NoNameservers:
        raise ValueError(_("No DNS server could answer for %(name)s.", name=name)) from None
    except (dns.exception.DNSException, ValueError, OSError) as exc:
        raise ValueError(_("DNS lookup of %(name)s failed: %(reason)s", name=name,
                           reason=exc.__class__.__name__)) from None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def verify_dns(tenant, name: str) -> DirectoryDomain:
    """Look for the challenge in DNS; the claim becomes verified when it is there.

    A missing record is an answer (``last_error`` says what was found), not an error; a domain
    that another tenant holds verified is a Conflict.
    """
    row = get_domain(tenant, name)
    if row.status == DomainStatus.VERIFIED:
        return row
    row.checked_at = utcnow()
    try:
        values = txt_values(record_name(row))
    except ValueError as exc:
        row.last_error = str(exc)[:500]
    else:
        if record_value(row) in values:
            _mark_verified(row, "dns", None)
            audit.record("iam.domain.verified", "domain", row.domain, tenant=tenant,
                         details={"method": "dns"})
            return row
        row.last_error = _("%(name)s has TXT records, but none is %(value)s.",
                           name=record_name(row), value=record_value(row))[:500]
    db.session.flush()
    audit.record("iam.domain.verification_failed", "domain", row.domain, tenant=tenant,
                 details={"reason": row.last_error})
    return row


# -- the platform administrator's side ---------------------------------------------------------


def list_claims(status: str | None = None, page: int = 1, page_size: int = 50) -> Page[DirectoryDomain]:
    stmt = sa.select(DirectoryDomain).order_by(DirectoryDomain.status, DirectoryDomain.domain,
                                               DirectoryDomain.id)
    if status:
        stmt = stmt.where(DirectoryDomain.status == status)
    return paginate(stmt, page, page_size)


def describe_claims(rows) -> list[dict]:
    tenants = {t.id: t for t in tenancy.tenants_by_ids({r.tenant_id for r in rows})}
    out = []
    for row in rows:
        tenant = tenants.get(row.tenant_id)
        out.append({**describe(row), "tenant": tenant.slug if tenant else None,
                    "tenant_name": tenant.name if tenant else None})
    return out


def _claim(domain_id: int) -> DirectoryDomain:
    row = db.session.get(DirectoryDomain, domain_id)
    if row is None:
        raise NotFound(msg("No domain claim %(domain_id)s.", domain_id=domain_id))
    return row


def approve(domain_id: int, admin_email: str) -> DirectoryDomain:
    """A platform administrator vouches for a claim (no DNS proof needed)."""
    row = _claim(domain_id)
    if row.status != DomainStatus.VERIFIED:
        _mark_verified(row, "admin", admin_email)
        audit.record("iam.domain.approved", "domain", row.domain, tenant=row.tenant_id,
                     details={"method": "admin"})
    return row


def revoke(domain_id: int) -> None:
    """A platform administrator takes a claim away (the domain changed hands, a mistake)."""
    row = _claim(domain_id)
    db.session.delete(row)
    db.session.flush()
    audit.record("iam.domain.revoked", "domain", row.domain, tenant=row.tenant_id,
                 details={"was": row.status})
