"""A component or product deleted in SPM takes its configuration with it (SPM's
``spm.component.changed`` with change=deleted, and ``spm.product.deleted``)."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import db

from ..models import ConfigComponent, HistoryEntry, Instance, Item, Release

BATCH = 1000


def forget_component(tenant_id: int, component_id: int) -> int:
    """Delete every SCM row of the component (idempotent); returns how many went. Its name may be
    given to a new component later, which starts with nothing."""
    gone = 0
    own_layers = ("component", "environment", "label")
    for model, where in (
        (Item, sa.and_(Item.scope_id == component_id, Item.layer.in_(own_layers))),
        (HistoryEntry, sa.and_(HistoryEntry.scope_id == component_id,
                               HistoryEntry.layer.in_((*own_layers, "release")))),
        (Release, Release.component_id == component_id),
        (Instance, Instance.component_id == component_id),
        (ConfigComponent, ConfigComponent.component_id == component_id),
    ):
        result = db.session.execute(sa.delete(model).where(model.tenant_id == tenant_id, where)
                                    .execution_options(synchronize_session=False))
        gone += result.rowcount or 0
    return gone


def _delete_in_batches(model, where) -> int:
    """Delete ``model``'s rows matching ``where`` a batch of ids at a time (a product's layer may
    hold many items and a long history); returns how many went."""
    gone = 0
    while True:
        ids = db.session.execute(
            sa.select(model.id).where(where).order_by(model.id).limit(BATCH)).scalars().all()
        if not ids:
            return gone
        db.session.execute(sa.delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False))
        gone += len(ids)


def forget_product(tenant_id: int, product_id: int) -> int:
    """Delete the product layer's items and history, and every SCM row of the product's
    components (idempotent; a component whose own event was lost or comes later is forgotten
    all the same); returns how many rows went. A new product of the same name starts with
    nothing."""
    component_ids = set(db.session.execute(
        sa.select(ConfigComponent.component_id).where(ConfigComponent.tenant_id == tenant_id,
                                                      ConfigComponent.product_id == product_id)).scalars())
    component_ids |= set(db.session.execute(
        sa.select(Release.component_id).distinct().where(Release.tenant_id == tenant_id,
                                                         Release.product_id == product_id)).scalars())
    gone = sum(forget_component(tenant_id, component_id) for component_id in sorted(component_ids))
    for model in (Item, HistoryEntry):
        gone += _delete_in_batches(model, sa.and_(model.tenant_id == tenant_id, model.layer == "product",
                                                  model.scope_id == product_id))
    return gone
