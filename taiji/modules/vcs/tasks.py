"""VCS background work: purging repositories deleted more than seven days ago, announcing the
pushes a post-receive hook could not record, publishing those whose hook was lost, and tidying
what interrupted pushes left on disk."""

from __future__ import annotations

from taiji.platform.db import db
from taiji.platform.tasks import celery

from . import services
from .services import storage


@celery.task(name="vcs.purge_repositories", acks_late=True)
def purge_repositories() -> int:
    """Delete the rows and files of repositories whose seven days of restorability are over."""
    return services.purge_due_repositories()


@celery.task(name="vcs.reconcile_pushes", acks_late=True)
def reconcile_pushes() -> int:
    """Publish ``vcs.push`` for ref updates no hook announced (scheduled every five minutes)."""
    return services.reconcile_pushes()


@celery.task(name="vcs.tidy_storage", acks_late=True)
def tidy_storage() -> int:
    """Remove what interrupted pushes left (quarantines, half-written packs, reservations) and
    measure every repository again (scheduled hourly)."""
    return storage.tidy_storage()


@celery.task(name="vcs.announce_push", bind=True, acks_late=True, max_retries=10)
def announce_push(self, repo_id: int, push_id: str, updates: list, pusher: dict | None) -> int:
    """Publish ``vcs.push`` for a push whose post-receive hook could not record it (retried with
    backoff; an update published meanwhile, by the hook or the reconciliation, is not repeated)."""
    from .models import Repository

    try:
        repo = db.session.get(Repository, repo_id)
        if repo is None:
            return 0
        return services.announce_push(repo, [tuple(u) for u in updates], pusher, push_id)
    except Exception as exc:
        db.session.rollback()
        raise self.retry(exc=exc, countdown=min(30 * 2 ** self.request.retries, 1800)) from exc
