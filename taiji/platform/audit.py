"""The audit log: every change made through the API or the console — who, what, which tenant,
when, from which address. Entries are written in the same unit of work as the change, so a
rolled-back change leaves no entry and a committed one always has one.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import g, has_request_context, request
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, Page, db, intpk, paginate, timestamp, utcnow


class AuditEntry(Model):
    __tablename__ = "kernel_audit"
    __table_args__ = (sa.Index("ix_kernel_audit_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[intpk]
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    tenant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kernel_tenant.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None]
    actor_email: Mapped[str | None] = mapped_column(sa.String(255))
    action: Mapped[str] = mapped_column(sa.String(100), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(50))
    target: Mapped[str] = mapped_column(sa.String(255))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    via: Mapped[str] = mapped_column(sa.String(20), default="system")


def record(action: str, target_type: str, target: str, *, tenant=None, details: dict | None = None,
           actor=None) -> AuditEntry:
    """Add an audit entry to the current unit of work.

    ``actor`` defaults to the caller of the current request; outside a request it is the system.
    """
    from taiji.platform.auth import current_principal

    address = user_agent = request_id = None
    via = "system"
    if has_request_context():
        address = request.remote_addr
        user_agent = (request.user_agent.string or "")[:255] or None
        request_id = g.get("request_id")
        if actor is None:
            actor = current_principal()
        via = "api" if request.path.startswith("/api/") else "console"
    entry = AuditEntry(
        tenant_id=getattr(tenant, "id", tenant),
        actor_id=getattr(actor, "user_id", None) or getattr(actor, "id", None),
        actor_email=getattr(actor, "email", None),
        action=action,
        target_type=target_type,
        target=str(target)[:255],
        details=details or {},
        address=address,
        user_agent=user_agent,
        request_id=request_id,
        via=via,
    )
    db.session.add(entry)
    return entry


def query(*, tenant=None, action: str | None = None, actor_email: str | None = None,
          since: dt.datetime | None = None, until: dt.datetime | None = None,
          page: int = 1, page_size: int = 20) -> Page[AuditEntry]:
    """Entries newest first; ``tenant=None`` means every tenant (administrators only). ``since``
    and ``until`` bound the moment of the entry (``until`` excluded)."""
    stmt = sa.select(AuditEntry)
    if tenant is not None:
        stmt = stmt.where(AuditEntry.tenant_id == tenant.id)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action))
    if actor_email:
        stmt = stmt.where(AuditEntry.actor_email == actor_email.strip().lower())
    if since is not None:
        stmt = stmt.where(AuditEntry.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.created_at < until)
    stmt = stmt.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    return paginate(stmt, page, page_size)
