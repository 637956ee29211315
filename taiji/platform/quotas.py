"""Quotas: limits per tenant on counted things, checked by modules before they create one.

A module registers a *meter* (a function counting the current usage for a tenant) and a
default limit; administrators may override the limit per tenant. Over quota is a 409
problem that says what to do.

A check is only worth something if nobody else can add between the count and the caller's
insert: ``check`` (and ``lock``) serialize callers per tenant and meter until the end of the
caller's transaction, so check and create commit as one step. On PostgreSQL that is a
transaction-scoped advisory lock. On SQLite the transaction becomes the database's single
writer before counting; a transaction whose snapshot is already older than another's commit
cannot become the writer (WAL refuses it), which is answered as a 409 to retry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform import registry as registries
from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, db, intpk
from taiji.platform.errors import msg


@dataclass(frozen=True)
class Meter:
    name: str
    label: object  # lazy_gettext
    default_limit: int | None  # None = unlimited
    count: Callable[[object], int]
    unit: str = "count"  # "count" | "bytes" | "seconds": how the console words an amount (web.text.amount)


def _meters() -> dict[str, Meter]:
    """The current application's meters (taiji.platform.registry)."""
    return registries.current().meters


def register(meter: Meter) -> None:
    _meters()[meter.name] = meter


def meters() -> list[Meter]:
    return sorted(_meters().values(), key=lambda m: m.name)


class QuotaLimit(TenantOwnedMixin, TimestampMixin, Model):
    __tablename__ = "kernel_quota"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(sa.String(50))
    limit: Mapped[int | None] = mapped_column(sa.BigInteger)


class QuotaExceeded(Exception):
    def __init__(self, meter: Meter, used: int, limit: int, adding: int):
        self.meter, self.used, self.limit, self.adding = meter, used, limit, adding
        self.message = msg(
            "Quota '%(name)s' exceeded: %(used)s used of %(limit)s, this needs %(adding)s more. "
            "Remove unused ones or ask a platform administrator to raise the limit.",
            name=meter.name, used=used, limit=limit, adding=adding,
        )
        super().__init__(self.message)

    @property
    def detail(self) -> str:
        """The refusal in the current request's language (English outside a request)."""
        return str(self.message)

    @property
    def english(self) -> str:
        return self.message.english

    def __str__(self) -> str:
        return self.detail


def limit_of(tenant, name: str) -> int | None:
    meter = _meters()[name]
    row = db.session.execute(
        sa.select(QuotaLimit.limit).where(QuotaLimit.tenant_id == tenant.id, QuotaLimit.name == name)
    ).first()
    return row[0] if row is not None else meter.default_limit


def lock_key(tenant_id: int, name: str) -> int:
    """The advisory lock key of a tenant's meter: a signed 64-bit integer, the same in every
    process and release (Python's ``hash()`` is salted per process, so it cannot be used)."""
    digest = hashlib.blake2b(f"{tenant_id}:{name}".encode(), digest_size=8, person=b"taiji.quota").digest()
    return int.from_bytes(digest, "big", signed=True)


def lock(tenant, name: str) -> None:
    """Hold the tenant's ``name`` meter until the current transaction commits or rolls back.

    For callers that measure usage themselves (BPR re-measures after streaming an upload).
    """
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key(tenant.id, name))))
    elif bind.dialect.name == "sqlite":
        # A write that changes nothing still makes this transaction the only writer, so the
        # count that follows cannot be overtaken before the commit. (A request that changes
        # something began with the write lock already; should SQLite refuse a unit of work that
        # began reading, the refusal goes up as it is: the request is replayed, the task run
        # again — db.py.)
        db.session.execute(
            sa.update(QuotaLimit).where(sa.false()).values(name=QuotaLimit.name),
            execution_options={"synchronize_session": False},
        )


def check(tenant, name: str, adding: int = 1, *, serialize: bool = True) -> None:
    """Raise ``QuotaExceeded`` when adding ``adding`` units would pass the tenant's limit.

    Takes the meter's ``lock`` first, so the caller's create in the same transaction is
    counted by the next check: two callers can no longer both pass on the same room.
    ``serialize=False`` skips it where the growth is not written in this transaction anyway.
    """
    meter = _meters()[name]
    if serialize:
        lock(tenant, name)
    limit = limit_of(tenant, name)
    if limit is None:
        return
    used = meter.count(tenant)
    if used + adding > limit:
        raise QuotaExceeded(meter, used, limit, adding)


def set_limit(tenant, name: str, limit: int | None) -> None:
    if name not in _meters():
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
