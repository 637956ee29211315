"""Quotas: limits per tenant on counted things, checked by modules before they create one.

A module registers a *meter* (a function counting the current usage for a tenant) and a
default limit; administrators may override the limit per tenant. Over quota is a 409
problem that says what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, db, intpk


@dataclass(frozen=True)
class Meter:
    name: str
    label: object  # lazy_gettext
    default_limit: int | None  # None = unlimited
    count: Callable[[object], int]
    unit: str = "count"  # "count" | "bytes"


_meters: dict[str, Meter] = {}


def register(meter: Meter) -> None:
    _meters[meter.name] = meter


def meters() -> list[Meter]:
    return sorted(_meters.values(), key=lambda m: m.name)


class QuotaLimit(TenantOwnedMixin, TimestampMixin, Model):
    __tablename__ = "kernel_quota"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(sa.String(50))
    limit: Mapped[int | None] = mapped_column(sa.BigInteger)


class QuotaExceeded(Exception):
    def __init__(self, meter: Meter, used: int, limit: int, adding: int):
        self.meter, self.used, self.limit, self.adding = meter, used, limit, adding
        super().__init__(
            f"Quota '{meter.name}' exceeded: {used} used of {limit}, this needs {adding} more. "
            "Remove unused ones or ask a platform administrator to raise the limit."
        )


def limit_of(tenant, name: str) -> int | None:
    meter = _meters[name]
    row = db.session.execute(
        sa.select(QuotaLimit.limit).where(QuotaLimit.tenant_id == tenant.id, QuotaLimit.name == name)
    ).first()
    return row[0] if row is not None else meter.default_limit


def check(tenant, name: str, adding: int = 1) -> None:
    """Raise ``QuotaExceeded`` when adding ``adding`` units would pass the tenant's limit."""
    meter = _meters[name]
    limit = limit_of(tenant, name)
    if limit is None:
        return
    used = meter.count(tenant)
    if used + adding > limit:
        raise QuotaExceeded(meter, used, limit, adding)


def set_limit(tenant, name: str, limit: int | None) -> None:
    if name not in _meters:
        raise KeyError(name)
    row = db.session.execute(
        sa.select(QuotaLimit).where(QuotaLimit.tenant_id == tenant.id, QuotaLimit.name == name)
    ).scalar_one_or_none()
    if row is None:
        db.session.add(QuotaLimit(tenant_id=tenant.id, name=name, limit=limit))
    else:
        row.limit = limit
    db.session.flush()


def usage(tenant) -> list[dict]:
    """Every meter with its use and limit, for the tenant page and the API."""
    overrides = dict(
        db.session.execute(
            sa.select(QuotaLimit.name, QuotaLimit.limit).where(QuotaLimit.tenant_id == tenant.id)
        ).all()
    )
    rows = []
    for meter in meters():
        limit = overrides.get(meter.name, meter.default_limit)
        rows.append({"name": meter.name, "label": str(meter.label), "unit": meter.unit,
                     "used": meter.count(tenant), "limit": limit})
    return rows
