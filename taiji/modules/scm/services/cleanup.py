"""A component deleted in SPM takes its configuration with it (SPM's ``spm.component.changed``)."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import db

from ..models import ConfigComponent, HistoryEntry, Instance, Item, Release


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
