"""The scheduler: which jobs start when, and what a pipeline's state is once jobs change.

Every state change of a job goes through a compare-and-set UPDATE (``WHERE status = <expected>``):
two workers that finish jobs of one pipeline at once cannot both start the same next job.
Which jobs start, within the platform's cap and the tenants' quotas, is decided by one pass at a
time for the whole platform (``capacity.dispatch``), so two schedulers never count the same slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.attributes import set_committed_value

from taiji.platform import events, quotas
from taiji.platform.db import after_commit, db, utcnow

from ..models import JOB_ACTIVE, JOB_DONE, FailureReason, Job, JobStatus, Pipeline, PipelineStatus
from .logs import announce_job, announce_pipeline

log = logging.getLogger("taiji.cicd")

QUOTA = "cicd.concurrent_jobs"
DEFAULT_CONCURRENCY = 4


def _count_active(tenant) -> int:
    return db.session.execute(
        sa.select(sa.func.count())
        .select_from(Job)
        .where(Job.tenant_id == tenant.id, Job.status.in_([s.value for s in JOB_ACTIVE]))
    ).scalar_one()


# Registered by the module (Module.quota_meters).
CONCURRENCY_METER = quotas.Meter(QUOTA, _l("Pipeline jobs running at once"), DEFAULT_CONCURRENCY,
                                 _count_active)


def transition(job: Job, expected, **values) -> bool:
    """Compare-and-set the job's row; on success the ORM object is updated too. Returns success."""
    expected = [
        str(s) for s in (expected if isinstance(expected, (list, tuple, set, frozenset)) else [expected])
    ]
    result = db.session.execute(
        sa.update(Job)
        .where(Job.id == job.id, Job.status.in_(expected))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(job)
        return False
    for key, value in values.items():
        # Committed values, not changes: a later flush must not write a stale status back.
        set_committed_value(job, key, value)
    if "status" in values:
        announce_job(job)
    return True


def _blocked(job: Job, jobs: dict[str, Job]) -> str | None:
    """None when the job may start; "wait" while a need is unfinished; "skip" when one failed."""
    for name in job.needs:
        need = jobs.get(name)
        if need is None:
            continue
        if need.status == JobStatus.SUCCESS or (need.status == JobStatus.FAILED and need.allow_failure):
            continue
        if need.status in (JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SKIPPED):
            return "skip"
        return "wait"
    return None


def advance(
    pipeline: Pipeline,
    *,
    slots: int | None = None,
    refresh: bool = True,
    can_start: Callable[[Job], bool] | None = None,
) -> list[Job]:
    """Start what can start, skip what can never run, settle the pipeline when nothing is left.

    ``slots`` is how many jobs may start and ``can_start`` which (``capacity.dispatch`` decides:
    the platform's cap and the tenant's quota). ``refresh=False`` trusts the loaded rows (read
    already in this pass). Returns the jobs started (made pending); each goes to its runner after
    the commit.
    """
    if pipeline.done:
        return []
    if refresh:
        db.session.refresh(pipeline)
    jobs = {job.name: job for job in pipeline.jobs}
    if refresh:
        for job in jobs.values():
            db.session.refresh(job)
    started: list[Job] = []
    changed = True
    while changed:
        changed = False
        for job in sorted(jobs.values(), key=lambda j: j.position):
            if job.status == JobStatus.MANUAL:
                # Waiting for a person, but a need failed: it can never run.
                if _blocked(job, jobs) == "skip":
                    changed |= transition(
                        job, JobStatus.MANUAL, status=JobStatus.SKIPPED.value, finished_at=utcnow()
                    )
                continue
            if job.status != JobStatus.CREATED:
                continue
            verdict = _blocked(job, jobs)
            if verdict == "skip":
                changed |= transition(
                    job, JobStatus.CREATED, status=JobStatus.SKIPPED.value, finished_at=utcnow()
                )
            elif job.when == "manual" and job.played_by_email is None:
                # Shown as manual while its needs still run, too (a retry reopened it).
                changed |= transition(job, JobStatus.CREATED, status=JobStatus.MANUAL.value)
            elif (
                verdict is None
                and (slots is None or slots > 0)
                and (can_start is None or can_start(job))
                and transition(
                    job,
                    JobStatus.CREATED,
                    status=JobStatus.PENDING.value,
                    queued_at=utcnow(),
                    failure_reason=None,
                    exit_code=None,
                    worker=None,
                    heartbeat_at=None,
                )
            ):
                started.append(job)
                if slots is not None:
                    slots -= 1
    for job in started:
        after_commit(_starter(job.runner, job.id, job.attempt))
    _settle(pipeline, jobs)
    return started


def _starter(runner_name: str, job_id: int, attempt: int):
    def start():
        from ..runners import get_runner

        get_runner(runner_name).start(job_id, attempt)

    return start


def _settle(pipeline: Pipeline, jobs: dict[str, Job]) -> None:
    """Finish the pipeline when no job is active and none can start any more."""
    states = [job.status for job in jobs.values()]
    if any(s in (JobStatus.PENDING, JobStatus.RUNNING) for s in states):
        return
    waiting = [j for j in jobs.values() if j.status == JobStatus.CREATED and _blocked(j, jobs) is None]
    if waiting:
        return  # startable, only the quota holds them back
    if any(j.status == JobStatus.FAILED and not j.allow_failure for j in jobs.values()):
        status = PipelineStatus.FAILED
    elif any(s == JobStatus.CANCELED for s in states):
        status = PipelineStatus.CANCELED
    else:
        # Manual jobs nobody played (and what needs them) do not hold the pipeline open.
        status = PipelineStatus.SUCCESS
    finish_pipeline(pipeline, status)


def finish_pipeline(pipeline: Pipeline, status: PipelineStatus, error: str | None = None) -> bool:
    """Close the pipeline once (compare-and-set) and publish its outcome event."""
    done = [
        s.value
        for s in (
            PipelineStatus.SUCCESS,
            PipelineStatus.FAILED,
            PipelineStatus.CANCELED,
            PipelineStatus.ERROR,
        )
    ]
    now = utcnow()
    values = {"status": status.value, "finished_at": now}
    if error is not None:
        values["error"] = error
    result = db.session.execute(
        sa.update(Pipeline)
        .where(Pipeline.id == pipeline.id, Pipeline.status.not_in(done))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(pipeline)
        return False
    for key, value in values.items():
        set_committed_value(pipeline, key, value)
    announce_pipeline(pipeline)
    name = {PipelineStatus.SUCCESS: "succeeded", PipelineStatus.CANCELED: "canceled"}.get(status, "failed")
    events.publish(f"cicd.pipeline.{name}", pipeline_payload(pipeline), tenant=pipeline.tenant_id)
    return True


def pipeline_payload(pipeline: Pipeline) -> dict:
    from taiji.platform.tenancy import Tenant as TenantRow

    slug = db.session.execute(
        sa.select(TenantRow.slug).where(TenantRow.id == pipeline.tenant_id)
    ).scalar_one()
    return {
        "tenant": slug,
        "repository": pipeline.repository,
        "pipeline": pipeline.id,
        "number": pipeline.number,
        "ref": pipeline.ref,
        "sha": pipeline.sha,
        "status": pipeline.status,
        "trigger": pipeline.trigger,
        "error": pipeline.error,
    }


def mark_started(pipeline: Pipeline) -> None:
    """The first job of the pipeline began: running, with cicd.pipeline.started (published once)."""
    now = utcnow()
    result = db.session.execute(
        sa.update(Pipeline)
        .where(
            Pipeline.id == pipeline.id,
            Pipeline.status.in_([PipelineStatus.CREATED.value, PipelineStatus.PENDING.value]),
        )
        .values(status=PipelineStatus.RUNNING.value, started_at=sa.func.coalesce(Pipeline.started_at, now))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        db.session.refresh(pipeline)
        announce_pipeline(pipeline)
        events.publish("cicd.pipeline.started", pipeline_payload(pipeline), tenant=pipeline.tenant_id)


def advance_tenant(tenant_id: int, first: Pipeline | None = None) -> list[Job]:
    """Something changed in the tenant's pipelines (``first``, when given): settle it, then start
    what may start on the whole platform, fairly (``capacity.dispatch``). ``tenant_id`` is kept
    for callers; a slot that frees up goes to whichever tenant's turn it is."""
    from .capacity import dispatch

    return dispatch(first)


def lock() -> None:
    """Take the platform's scheduler lock before changing job rows (see ``capacity.lock``)."""
    from .capacity import lock as take

    take()


def finish_job(
    job: Job,
    status: JobStatus,
    *,
    reason: FailureReason | None = None,
    exit_code: int | None = None,
    junit: dict | None = None,
    attempt: int | None = None,
) -> bool:
    """The runner's last word on a job: record the outcome (unless it was canceled or handed to
    another attempt meanwhile), publish cicd.job.finished, start what follows."""
    values = {
        "status": status.value,
        "finished_at": utcnow(),
        "exit_code": exit_code,
        "failure_reason": reason.value if reason else None,
    }
    if junit is not None:
        values["junit"] = junit
    lock()
    stmt = sa.update(Job).where(Job.id == job.id, Job.status == JobStatus.RUNNING.value)
    if attempt is not None:
        stmt = stmt.where(Job.attempt == attempt)
    result = db.session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    db.session.refresh(job)
    if result.rowcount != 1:
        return False
    announce_job(job)
    publish_job_finished(job)
    advance_tenant(job.tenant_id, job.pipeline)
    return True


def publish_job_finished(job: Job) -> None:
    payload = pipeline_payload(job.pipeline)
    payload.update(
        {
            "job": job.id,
            "name": job.name,
            "job_status": job.status,
            "attempt": job.attempt,
            "failure_reason": job.failure_reason,
            "exit_code": job.exit_code,
            "reports": {"junit": job.junit} if job.junit else {},
            "artifacts": [
                {"id": a.id, "path": a.path, "sha256": a.sha256, "published": a.published}
                for a in job.artifacts
            ],
        }
    )
    events.publish("cicd.job.finished", payload, tenant=job.tenant_id)


def cancel_jobs(jobs: list[Job]) -> list[Job]:
    """Cancel what has not finished; running ones are killed by their runner's heartbeat loop."""
    canceled = []
    lock()
    for job in jobs:
        if job.status in JOB_DONE:
            continue
        was = job.status
        if transition(
            job,
            [JobStatus.CREATED, JobStatus.PENDING, JobStatus.RUNNING, JobStatus.MANUAL],
            status=JobStatus.CANCELED.value,
            failure_reason=FailureReason.CANCELED.value,
            finished_at=utcnow(),
        ):
            canceled.append(job)
            # A remote runner also has something to stop while the job is pending (a queue item).
            if was in (JobStatus.PENDING, JobStatus.RUNNING):
                after_commit(_canceler(job.runner, job.id, job.attempt))
    return canceled


def _canceler(runner_name: str, job_id: int, attempt: int):
    def cancel():
        from ..runners import get_runner

        get_runner(runner_name).cancel(job_id, attempt)

    return cancel
