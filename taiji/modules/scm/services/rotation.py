"""``taiji keys rotate-config``: every sealed value moved to the current secret key."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import db

from ..models import Item, Release
from . import values


def rotate_keys() -> int:
    """Re-seal every secret (items and release snapshots) under the current ``TAIJI_SECRET_KEY``;
    values sealed under a key listed in ``TAIJI_PREVIOUS_SECRET_KEYS`` keep opening meanwhile, so
    readers never fail. Returns how many sealed values were re-sealed."""
    count = 0
    for item in db.session.execute(sa.select(Item).where(Item.sealed.is_not(None))).scalars():
        item.sealed = values.reseal(item.sealed)
        count += 1
    for release in db.session.execute(sa.select(Release)).scalars():
        if not any(entry.get("sealed") for entry in release.snapshot):
            continue
        snapshot = []
        for entry in release.snapshot:
            if entry.get("sealed"):
                entry = {**entry, "sealed": values.reseal(entry["sealed"])}
                count += 1
            snapshot.append(entry)
        release.snapshot = snapshot
    db.session.flush()
    return count
