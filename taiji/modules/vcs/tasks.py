"""VCS background work: purging repositories deleted more than seven days ago."""

from __future__ import annotations

from datetime import timedelta

from taiji.platform.tasks import BEAT_SCHEDULE, celery

from . import services

BEAT_SCHEDULE["vcs-purge-repositories"] = {"task": "vcs.purge_repositories", "schedule": timedelta(hours=1)}


@celery.task(name="vcs.purge_repositories", acks_late=True)
def purge_repositories() -> int:
    """Delete the rows and files of repositories whose seven days of restorability are over."""
    return services.purge_due_repositories()
