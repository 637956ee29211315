"""The tenant row and the current tenant, resolved once per request from the URL.

TM manages tenants; the row lives here because every tenant-owned table points at it.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask import abort, g
from sqlalchemy.orm import Mapped, make_transient_to_detached, mapped_column

from taiji.platform.db import Model, TimestampMixin, db, intpk, str100

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
RESERVED_SLUGS = frozenset({"api", "admin", "new", "login", "logout", "static", "t", "settings", "me"})


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tenant(TimestampMixin, Model):
    __tablename__ = "kernel_tenant"

    id: Mapped[intpk]
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str100]
    status: Mapped[TenantStatus] = mapped_column(
        sa.Enum(TenantStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=TenantStatus.ACTIVE,
    )
    # Members must use a second factor (TOTP) to open this tenant in the console (IAM enforces it).
    mfa_required: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Optimistic-concurrency counter; also the ETag's basis.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"

    def __str__(self) -> str:
        # A route's <tenant> argument is the Tenant once the membership check has passed, so that
        # url_for(..., tenant=tenant) (and any URL rebuilt from request.view_args) spells the slug.
        return self.slug


# Built once: every tenant URL resolves its slug, and building the statement cost more CPU than running it.
_BY_SLUG = sa.select(Tenant).where(Tenant.slug == sa.bindparam("slug"))


def tenant_by_slug(slug: str) -> Tenant | None:
    return db.session.execute(_BY_SLUG, {"slug": slug}).scalar_one_or_none()


_COLUMNS = ("id", "slug", "name", "status", "mfa_required", "version", "created_at", "updated_at")


def values_of(tenant: Tenant) -> tuple:
    """The tenant's columns, to keep outside any session (``attach`` makes a Tenant of them again)."""
    return tuple(getattr(tenant, name) for name in _COLUMNS)


def attach(values: tuple) -> Tenant:
    """The Tenant of ``values_of``, in this request's session without a query, as if just loaded
    (the one already in the session if it is there)."""
    key = db.session.identity_key(Tenant, values[0])
    present = db.session.identity_map.get(key)
    if present is not None:
        return present
    tenant = Tenant(**dict(zip(_COLUMNS, values, strict=True)))
    make_transient_to_detached(tenant)
    db.session.add(tenant)
    return tenant


def tenants_by_ids(ids) -> list[Tenant]:
    ids = list(ids)
    if not ids:
        return []
    stmt = sa.select(Tenant).where(Tenant.id.in_(ids)).order_by(Tenant.slug)
    return list(db.session.execute(stmt).scalars())


def resolve(slug: str) -> Tenant:
    """Resolve the URL's tenant into ``g.tenant``; an unknown slug is a 404."""
    tenant = getattr(g, "tenant", None)
    if tenant is not None and tenant.slug == slug:
        return tenant
    tenant = tenant_by_slug(slug)
    if tenant is None:
        abort(404, description=f"No tenant '{slug}'.")
    g.tenant = tenant
    return tenant


def current() -> Tenant | None:
    return getattr(g, "tenant", None)
