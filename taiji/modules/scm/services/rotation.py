"""``taiji keys rotate-config``: every sealed configuration value — items and release snapshots —
moved to the current ``TAIJI_SECRET_KEY``, in batches the command commits one by one.

Readers keep working throughout: a value sealed under a key listed in
``TAIJI_PREVIOUS_SECRET_KEYS`` still opens, and a batch holds its rows only while it re-seals
them. A batch is a range of row ids, so an interrupted rotation is finished by running it again.
"""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import db

from ..models import Item, Release
from . import values

KINDS = ("items", "releases")


def reseal_batch(kind: str, after: int, limit: int = 500) -> tuple[int, int | None]:
    """Re-seal the sealed values of up to ``limit`` rows of ``kind`` (``items`` or ``releases``)
    whose id is above ``after``; returns (values re-sealed, the last id seen — or None when no
    row is left)."""
    if kind == "items":
        rows = db.session.execute(
            sa.select(Item.id, Item.sealed, Item.updated_at).where(Item.id > after, Item.sealed.is_not(None))
            .order_by(Item.id).limit(limit).with_for_update()
        ).all()
        for row in rows:
            # The value is the same: its item keeps the time it was last changed.
            db.session.execute(sa.update(Item).where(Item.id == row.id)
                               .values(sealed=values.reseal(row.sealed), updated_at=row.updated_at)
                               .execution_options(synchronize_session=False))
        count = len(rows)
    elif kind == "releases":
        rows = db.session.execute(
            sa.select(Release).where(Release.id > after).order_by(Release.id).limit(limit).with_for_update()
        ).scalars().all()
        count = 0
        for release in rows:
            if not any(entry.get("sealed") for entry in release.snapshot):
                continue
            snapshot = []
            for entry in release.snapshot:
                if entry.get("sealed"):
                    entry = {**entry, "sealed": values.reseal(entry["sealed"])}
                    count += 1
                snapshot.append(entry)
            release.snapshot = snapshot
    else:
        raise ValueError(f"unknown kind {kind!r}")
    db.session.flush()
    return count, (rows[-1].id if rows else None)


def rotate_keys() -> int:
    """Re-seal every secret under the current key in this unit of work (all batches); returns how
    many sealed values were re-sealed."""
    count = 0
    for kind in KINDS:
        after: int | None = 0
        while after is not None:
            resealed, after = reseal_batch(kind, after)
            count += resealed
    return count
