"""CI's Celery tasks: run a job (queue ``cicd.builtin``), reap lost jobs, run schedules, expire artifacts."""

from __future__ import annotations

import logging

from celery.signals import worker_ready

from taiji.platform.tasks import celery

from .runners import builtin
from .runners.sweep import sweep_workspaces
from .services import expire_artifacts as _expire
from .services import run_due_schedules


@celery.task(name="cicd.run_job", acks_late=True)
def run_job(job_id: int, attempt: int) -> str:
    """Run one attempt of a job on this worker (a duplicate or stale copy does nothing)."""
    return builtin.execute(job_id, attempt)


@celery.task(name="cicd.reap_jobs", acks_late=True)
def reap_jobs() -> list[int]:
    """Mark jobs without a heartbeat runner_lost; retry each once on another worker. Then remove
    what lost attempts left on this host (their folders)."""
    reaped = builtin.reap()
    sweep_workspaces()
    return reaped


@worker_ready.connect
def sweep_at_start(**_kwargs) -> None:
    """A worker starting on a host removes what its dead predecessors' jobs left there."""
    from taiji.platform.db import db

    app = celery.flask_app
    if app is None:
        return
    with app.app_context():
        try:
            sweep_workspaces()
            db.session.commit()
        except Exception:
            logging.getLogger("taiji.cicd.runner").exception("could not sweep the job folders")
            db.session.rollback()
        finally:
            db.session.remove()


@celery.task(name="cicd.run_schedules", acks_late=True)
def run_schedules() -> int:
    """Start the pipelines whose cron line is due (every minute, UTC)."""
    return run_due_schedules()


@celery.task(name="cicd.expire_artifacts", acks_late=True)
def expire_artifacts() -> int:
    """Delete artifacts past their `expire_in`."""
    return _expire()
