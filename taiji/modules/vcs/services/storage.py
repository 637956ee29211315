"""Repository storage against the tenant's quota: room held for pushes, and what interrupted
pushes leave behind.

A push is checked against the ``vcs.storage_bytes`` quota in its pre-receive hook, when git has
received its objects (in a quarantine folder) and not yet moved any ref; the repository is
measured again in its post-receive, after the objects joined it. Between the two, other pushes of
the tenant may be checked: each accepted push therefore holds its size as a reservation, granted
under the quota's lock (``taiji.platform.quotas.lock``, as BPR uploads do) and committed at once,
so that the next check counts it; the post-receive's measurement replaces it in one transaction.
The sum of the repositories' sizes and the reservations never passes the limit.

A push cut off (the client or the server killed mid-pack) can leave its quarantine folder
behind, and a push whose end was never seen its reservation: neither counts for long.
Quarantines are never counted as a repository's size, and the hourly ``vcs.tidy_storage`` task
removes stale ones, drops stale reservations and measures every repository again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from taiji.platform import quotas
from taiji.platform.db import db, utcnow

from ..models import Repository, StorageReservation
from .repositories import (
    QUARANTINE_PREFIXES,
    STORAGE_METER,
    TEMPORARY_PACK_PREFIX,
    disk_size,
    local_git_dir,
)

log = logging.getLogger("taiji.vcs.storage")

# A push writes its quarantine continuously while the pack arrives and is done with it seconds
# after; one untouched this long belongs to no running push.
STALE = dt.timedelta(hours=1)


@dataclass(frozen=True)
class TenantRef:
    """A tenant known by its id only: the quota's lock must be the first statement of its
    transaction (on SQLite a transaction that has read cannot take the write lock once another
    has committed), so the tenant is not loaded before it."""

    id: int


def reserve(tenant_id: int, repo_id: int, push_id: str, quarantine: Path | None) -> str | None:
    """Hold room for a push's received objects; returns the refusal when the quota has none.

    Takes the quota's lock first; the caller commits right after (or rolls back on a refusal),
    letting the lock go with the reservation in place.
    """
    tenant = TenantRef(tenant_id)
    quotas.lock(tenant, STORAGE_METER)
    incoming = disk_size(quarantine) if quarantine is not None else 0
    try:
        quotas.check(tenant, STORAGE_METER, incoming, serialize=False)  # the lock is held already
    except quotas.QuotaExceeded as exc:
        return (f"This push needs {incoming} bytes but the tenant's repository storage is full "
                f"({exc.used} of {exc.limit} bytes used). Remove large files or ask an administrator "
                "to raise the 'vcs.storage_bytes' quota.")
    db.session.add(StorageReservation(tenant_id=tenant_id, repository_id=repo_id, push_id=push_id[:64],
                                      size_bytes=incoming))
    db.session.flush()
    return None


def release(push_id: str) -> int:
    """Let go of a push's reservation (measured, or the push ended without landing)."""
    mine = StorageReservation.push_id == push_id[:64]
    result = db.session.execute(sa.delete(StorageReservation).where(mine))
    return result.rowcount or 0


def _newest_change(path: Path) -> float:
    newest = path.lstat().st_mtime
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                newest = max(newest, (Path(folder) / name).lstat().st_mtime)
            except OSError:
                continue
    return newest


def clean_leftovers(path: Path, *, stale_after: dt.timedelta = STALE) -> int:
    """Remove the quarantines and half-written packs of ``path`` untouched for ``stale_after``;
    returns how many."""
    cutoff = time.time() - stale_after.total_seconds()
    objects, removed = path / "objects", 0
    candidates = []
    if objects.is_dir():
        candidates += [p for p in objects.iterdir() if p.is_dir() and p.name.startswith(QUARANTINE_PREFIXES)]
    if (objects / "pack").is_dir():
        candidates += [p for p in (objects / "pack").iterdir()
                       if p.is_file() and p.name.startswith(TEMPORARY_PACK_PREFIX)]
    for candidate in candidates:
        try:
            if _newest_change(candidate) > cutoff:
                continue  # a push or fetch still writing it
            if candidate.is_dir():
                shutil.rmtree(candidate)
            else:
                candidate.unlink()
            removed += 1
        except OSError:
            log.warning("could not remove a leftover of an interrupted push", exc_info=True,
                        extra={"path": str(candidate)})
    return removed


def tidy_storage(*, stale_after: dt.timedelta = STALE, page_size: int = 200) -> int:
    """Drop stale reservations, remove stale quarantines from every repository on disk and measure
    each again; returns how many leftovers were removed."""
    db.session.execute(sa.delete(StorageReservation)
                       .where(StorageReservation.created_at < utcnow() - stale_after))
    removed, after_id = 0, 0
    while True:
        page = list(db.session.execute(sa.select(Repository).where(Repository.id > after_id)
                                       .order_by(Repository.id).limit(page_size)).scalars())
        for repo in page:
            try:
                with db.session.begin_nested():
                    path = local_git_dir(repo)
                    if path is None:
                        continue
                    removed += clean_leftovers(path, stale_after=stale_after)
                    measured = disk_size(path)
                    if repo.size_bytes != measured:
                        repo.size_bytes = measured
                        db.session.flush()
            except Exception:  # one broken repository must not stop the others
                log.exception("could not tidy a repository", extra={"repository": repo.id})
        if len(page) < page_size:
            break
        after_id = page[-1].id
    if removed:
        log.info("removed leftovers of interrupted pushes", extra={"count": removed})
    return removed
