"""The reaper: running jobs whose worker stopped heartbeating are retried once, then failed."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app

from taiji.platform.db import db, utcnow

from ..models import FailureReason, Job, JobStatus
from ..services import scheduler
from ..services.logs import append_log

RED, RESET = "\x1b[31m", "\x1b[0m"


def reap(now: dt.datetime | None = None) -> list[int]:
    """Jobs whose runner stopped heartbeating: retried once (attempt 2), then failed runner_lost."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=current_app.config["CICD_RUNNER_LOST_SECONDS"])
    stale = list(
        db.session.execute(
            sa.select(Job)
            .where(
                Job.status == JobStatus.RUNNING.value,
                sa.or_(
                    Job.heartbeat_at < cutoff, sa.and_(Job.heartbeat_at.is_(None), Job.started_at < cutoff)
                ),
            )
            .limit(100)
        ).scalars()
    )
    reaped = []
    for job in stale:
        lost_worker, attempt = job.worker, job.attempt
        if attempt < 2:
            if not scheduler.transition(
                job,
                JobStatus.RUNNING,
                status=JobStatus.CREATED.value,
                attempt=attempt + 1,
                worker=None,
                heartbeat_at=None,
                started_at=None,
            ):
                continue
            append_log(
                job,
                f"\n{RED}--- runner lost: {lost_worker} stopped sending heartbeats; "
                f"retrying as attempt {attempt + 1} ---{RESET}\n",
            )
            scheduler.advance_tenant(job.tenant_id, job.pipeline)
        else:
            if not scheduler.transition(
                job,
                JobStatus.RUNNING,
                status=JobStatus.FAILED.value,
                failure_reason=FailureReason.RUNNER_LOST.value,
                finished_at=now,
            ):
                continue
            append_log(
                job,
                f"\n{RED}--- runner lost again: {lost_worker} stopped sending heartbeats; "
                f"the job failed ---{RESET}\n",
            )
            scheduler.publish_job_finished(job)
            scheduler.advance_tenant(job.tenant_id, job.pipeline)
        reaped.append(job.id)
    return reaped
