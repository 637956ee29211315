"""BPR background work: the daily retention run, the hourly sweep of abandoned uploads."""

from __future__ import annotations

import logging

from taiji.platform.db import db
from taiji.platform.tasks import celery
from taiji.platform.tenancy import Tenant

from . import services
from .models import BprRepository
from .storage import storage

log = logging.getLogger("taiji.bpr")


@celery.task(name="bpr.sweep_uploads", acks_late=True)
def sweep_uploads() -> int:
    """Remove what uploads cut off by a dying process left behind (hourly, from beat); returns
    how many temporary files went."""
    removed = storage().sweep_uploads()
    if removed:
        log.warning("removed stale upload files", extra={"files": [str(p) for p in removed[:20]],
                                                         "count": len(removed)})
    return len(removed)


@celery.task(name="bpr.apply_retention", acks_late=True)
def apply_retention(repository_id: int | None = None) -> int:
    """Apply the retention rules of one repository, or of every repository that has rules
    (daily, from beat); returns how many files were deleted."""
    ids = [repository_id] if repository_id is not None else services.repositories_with_rules()
    deleted = 0
    for rid in ids:
        repository = db.session.get(BprRepository, rid)
        if repository is None:
            continue
        tenant = db.session.get(Tenant, repository.tenant_id)
        deleted += len(services.apply_retention(tenant, repository))
    log.info("retention applied", extra={"repositories": len(ids), "deleted": deleted})
    return deleted
