"""VCS background work: purging repositories deleted more than seven days ago, and publishing
the pushes whose post-receive hook was lost."""

from __future__ import annotations

from datetime import timedelta

from taiji.platform.tasks import BEAT_SCHEDULE, celery

from . import services

BEAT_SCHEDULE["vcs-purge-repositories"] = {"task": "vcs.purge_repositories", "schedule": timedelta(hours=1)}
BEAT_SCHEDULE["vcs-reconcile-pushes"] = {"task": "vcs.reconcile_pushes", "schedule": timedelta(minutes=5)}


@celery.task(name="vcs.purge_repositories", acks_late=True)
def purge_repositories() -> int:
    """Delete the rows and files of repositories whose seven days of restorability are over."""
    return services.purge_due_repositories()


@celery.task(name="vcs.reconcile_pushes", acks_late=True)
def reconcile_pushes() -> int:
    """Publish ``vcs.push`` for ref updates no hook announced (scheduled every five minutes)."""
    return services.reconcile_pushes()
