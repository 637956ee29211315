"""The history of a component's configuration in an environment: every item change in the layers
that reach it (old → new; a secret's values never) and every release decision."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import Page, db, paginate

from ..models import HistoryEntry


def actor_name(actor) -> str:
    return (getattr(actor, "email", None) or getattr(actor, "name", None) or "system")[:255]


def record_item(tenant, actor, action: str, item, old: str | None, new: str | None,
                secret: bool) -> HistoryEntry:
    """Note an item change; ``old``/``new`` are stored JSON texts (dropped when ``secret``)."""
    entry = HistoryEntry(
        tenant_id=tenant.id, actor=actor_name(actor), action=action, layer=item.layer, scope_id=item.scope_id,
        environment=item.environment, selector=item.selector, namespace=item.namespace, key=item.key,
        secret=secret, old_value=None if secret else old, new_value=None if secret else new,
        detail={"type": item.type},
    )
    db.session.add(entry)
    return entry


def record_release(tenant, actor, action: str, release, detail: dict | None = None) -> HistoryEntry:
    entry = HistoryEntry(
        tenant_id=tenant.id, actor=actor_name(actor), action=action, layer="release",
        scope_id=release.component_id, environment=release.environment,
        release_number=release.number, detail=detail or {},
    )
    db.session.add(entry)
    return entry


def history(tenant, component, environment: str, page: int = 1, page_size: int = 20) -> Page[HistoryEntry]:
    """What changed for ``component`` in ``environment``, newest first: its own items and releases,
    and the tenant's and its product's items."""
    where = sa.or_(
        HistoryEntry.layer == "tenant",
        sa.and_(HistoryEntry.layer == "product", HistoryEntry.scope_id == component.product_id),
        sa.and_(HistoryEntry.layer == "component", HistoryEntry.scope_id == component.id),
        sa.and_(HistoryEntry.layer.in_(("environment", "label", "release")),
                HistoryEntry.scope_id == component.id, HistoryEntry.environment == environment),
    )
    stmt = sa.select(HistoryEntry).where(HistoryEntry.tenant_id == tenant.id, where)
    return paginate(stmt.order_by(HistoryEntry.id.desc()), page, page_size)
