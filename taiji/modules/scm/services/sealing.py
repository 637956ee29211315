"""A key that becomes secret takes its past with it: the values it had while public are sealed or
dropped where they are kept, so that no reader — and nobody holding the database's files — finds
them later.

History entries lose their old and new values (the history never holds a secret's, see
``history.record_item``) and read as a secret's change. Release snapshots keep the value, since
clients still receive it from those releases (a rollback restores it), but sealed, as an item
that was secret from the start would have it. Done in the change's unit of work, so the flip and
the sealing commit together; release snapshots are rewritten in batches of ``BATCH`` rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import db

from ..models import HistoryEntry, Release
from . import values

BATCH = 200


def _same_key(model, item):
    return sa.and_(model.tenant_id == item.tenant_id, model.layer == item.layer,
                   model.scope_id == item.scope_id, model.environment == item.environment,
                   model.selector == item.selector, model.namespace == item.namespace,
                   model.key == item.key)


def _releases_reached(item):
    """The releases whose snapshots may hold ``item``'s key: those its layer reaches."""
    where = [Release.tenant_id == item.tenant_id]
    if item.layer == "product":
        where.append(Release.product_id == item.scope_id)
    elif item.layer == "component":
        where.append(Release.component_id == item.scope_id)
    elif item.layer in ("environment", "label"):
        where += [Release.component_id == item.scope_id, Release.environment == item.environment]
    return where


def _is_key(entry: dict, item) -> bool:
    return (entry.get("layer"), entry.get("scope_id"), entry.get("environment"), entry.get("selector"),
            entry.get("namespace"), entry.get("key")) == (
        item.layer, item.scope_id, item.environment, item.selector, item.namespace, item.key)


def seal_history(item) -> int:
    """Drop the values the history kept of ``item``'s key while it was public; returns how many
    entries changed."""
    result = db.session.execute(
        sa.update(HistoryEntry).where(_same_key(HistoryEntry, item), HistoryEntry.secret.is_(False))
        .values(old_value=None, new_value=None, secret=True).execution_options(synchronize_session=False))
    return result.rowcount or 0


def seal_snapshots(item) -> int:
    """Seal ``item``'s key in every release snapshot that holds it in clear; returns how many
    snapshot entries were sealed."""
    count, after = 0, 0
    while True:
        releases = db.session.execute(
            sa.select(Release).where(*_releases_reached(item), Release.id > after)
            .order_by(Release.id).limit(BATCH)
        ).scalars().all()
        if not releases:
            return count
        for release in releases:
            if not any(_is_key(entry, item) and not entry.get("secret") for entry in release.snapshot or ()):
                continue
            snapshot = []
            for entry in release.snapshot:
                if _is_key(entry, item) and not entry.get("secret") and entry.get("value") is not None:
                    entry = {**entry, "value": None, "sealed": values.seal(entry["value"]), "secret": True}
                    count += 1
                snapshot.append(entry)
            release.snapshot = snapshot
        db.session.flush()
        after = releases[-1].id


def seal_past(item) -> int:
    """Seal every value ``item``'s key had while public (it is secret now); returns how many
    history and snapshot entries changed. Every public value was written through the history, so
    a key without public history entries (a new secret, the usual case) has no snapshot to scan."""
    sealed = seal_history(item)
    return sealed + seal_snapshots(item) if sealed else 0
