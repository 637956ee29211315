"""Background work of external repositories: fetching mirrors, and the minute-by-minute check
for mirrors that are due."""

from __future__ import annotations

import logging

from taiji.platform.db import after_commit
from taiji.platform.tasks import celery

from .services import mirrors

log = logging.getLogger("taiji.vcs.mirrors")


def enqueue_fetch(repo_id: int) -> None:
    """Ask a worker to fetch one mirror; if the broker is away, the minute check will find it."""
    try:
        fetch_mirror.apply_async((repo_id,), retry=False)
    except Exception:
        log.warning("could not enqueue a mirror fetch; the scheduled check will", exc_info=True,
                    extra={"repository": repo_id})


@celery.task(name="vcs.fetch_mirror", acks_late=True)
def fetch_mirror(repo_id: int) -> bool:
    """Clone or fetch the mirror of repository ``repo_id``; failures are recorded on its source.

    It commits twice itself (services/mirrors.py): once to claim the mirror before git runs, once
    to record the outcome; no transaction is open while git runs. A fetch asked for while another
    runs returns False at once and is done again when that one ends.
    """
    return mirrors.fetch_mirror(repo_id)


@celery.task(name="vcs.fetch_due_mirrors", acks_late=True)
def fetch_due_mirrors() -> int:
    """Queue a fetch for every mirror whose interval has passed (scheduled every minute)."""
    ids = mirrors.claim_due_mirrors()

    def dispatch() -> None:
        for repo_id in ids:
            enqueue_fetch(repo_id)

    after_commit(dispatch)
    return len(ids)
