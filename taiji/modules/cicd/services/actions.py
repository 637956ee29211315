"""What people do to pipelines and jobs once they exist: cancel, retry, play."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db
from taiji.platform.errors import Conflict, msg

from ..models import JOB_DONE, Job, JobStatus, Pipeline, PipelineStatus, Trigger
from . import scheduler
from .logs import announce_pipeline
from .pipelines import _actor_email, create_pipeline, get_job, get_pipeline, protected_run


def cancel_pipeline(tenant, pipeline_id: int, *, actor=None) -> Pipeline:
    """Cancel every unfinished job (running ones are killed) and the pipeline. Idempotent."""
    pipeline = get_pipeline(tenant, pipeline_id)
    if pipeline.done:
        return pipeline
    canceled = scheduler.cancel_jobs(list(pipeline.jobs))
    for job in canceled:
        scheduler.publish_job_finished(job)
    scheduler.finish_pipeline(pipeline, PipelineStatus.CANCELED)
    audit.record(
        "cicd.pipeline.cancel",
        "cicd_pipeline",
        f"{pipeline.repository}#{pipeline.number}",
        tenant=tenant,
        actor=actor,
        details={"id": pipeline.id, "jobs": [j.name for j in canceled]},
    )
    scheduler.advance_tenant(tenant.id)
    return pipeline


def cancel_job(tenant, job_id: int, *, actor=None) -> Job:
    """Cancel one job; what needs it is skipped and the pipeline settles accordingly."""
    job = get_job(tenant, job_id)
    if job.done:
        return job
    for canceled in scheduler.cancel_jobs([job]):
        scheduler.publish_job_finished(canceled)
    audit.record(
        "cicd.job.cancel",
        "cicd_job",
        f"{job.pipeline.repository}#{job.pipeline.number}/{job.name}",
        tenant=tenant,
        actor=actor,
        details={"id": job.id},
    )
    scheduler.advance_tenant(tenant.id, job.pipeline)
    return job


def retryable(pipeline: Pipeline) -> bool:
    """Whether Retry makes sense: the pipeline finished and had jobs (a pipeline whose file was
    invalid has none, and would fail the same way at the same commit)."""
    return pipeline.done and not (pipeline.status == PipelineStatus.ERROR and not pipeline.jobs)


def retry_pipeline(tenant, pipeline_id: int, *, actor=None) -> Pipeline:
    """A new pipeline (trigger ``retry``) of the same commit, file and variables."""
    old = get_pipeline(tenant, pipeline_id)
    if not old.done:
        raise Conflict(msg("Pipeline %(old_id)s is still %(old_status)s; cancel it or wait for it to "
                           "finish.", old_id=old.id, old_status=old.status))
    if not retryable(old):
        # Its file could not be used at this commit, and a retry runs the same commit again.
        raise Conflict(msg("Pipeline #%(number)s has no jobs: its .taiji.yml could not be used at this "
                           "commit, and a retry would run the same file. Fix .taiji.yml and push, or run "
                           "the pipeline again.", number=old.number))
    # Judged anew for whoever retries: the old run's variables come along.
    protected = protected_run(tenant, old.repository, old.ref, Trigger.RETRY, actor)
    return create_pipeline(
        tenant,
        old.repository,
        ref=old.ref,
        sha=old.sha,
        text=None,
        config=old.config,
        trigger=Trigger.RETRY,
        variables=old.variables,
        actor=actor,
        source=old.source,
        repository_id=old.repository_id,
        retry_of=old,
        protected=protected,
    )


def retry_job(tenant, job_id: int, *, actor=None) -> Job:
    """Run a finished job again (next attempt), and reopen its pipeline and the jobs it skipped."""
    job = get_job(tenant, job_id)
    if not job.done:
        raise Conflict(msg("Job '%(job_name)s' is %(job_status)s; only a finished job can be retried.",
                           job_name=job.name, job_status=job.status))
    pipeline = job.pipeline
    scheduler.lock()  # before the rows it changes: a scheduling pass may be settling this pipeline
    _reset(job, actor)
    # The jobs skipped because this one failed get their chance again.
    for other in pipeline.jobs:
        if other.status == JobStatus.SKIPPED and _depends_on(pipeline, other, job.name):
            scheduler.transition(other, JobStatus.SKIPPED, status=JobStatus.CREATED.value, finished_at=None)
    _reopen(pipeline)
    audit.record(
        "cicd.job.retry",
        "cicd_job",
        f"{pipeline.repository}#{pipeline.number}/{job.name}",
        tenant=tenant,
        actor=actor,
        details={"id": job.id, "attempt": job.attempt},
    )
    scheduler.advance_tenant(tenant.id, pipeline)
    return job


def _reset(job: Job, actor) -> None:
    from .logs import append_log

    scheduler.transition(
        job,
        list(JOB_DONE),
        status=JobStatus.CREATED.value,
        attempt=job.attempt + 1,
        failure_reason=None,
        exit_code=None,
        finished_at=None,
        started_at=None,
        heartbeat_at=None,
        worker=None,
        junit=None,
        played_by_email=_actor_email(actor) if job.when == "manual" else None,
    )
    if job.log_size:
        append_log(
            job,
            f"\n\x1b[36m--- retried by {_actor_email(actor) or 'the system'}: "
            f"attempt {job.attempt} ---\x1b[0m\n",
        )


def _depends_on(pipeline: Pipeline, job: Job, name: str, seen=None) -> bool:
    seen = seen or set()
    by_name = {j.name: j for j in pipeline.jobs}
    for need in job.needs:
        if need == name:
            return True
        if need not in seen and need in by_name:
            seen.add(need)
            if _depends_on(pipeline, by_name[need], name, seen):
                return True
    return False


def _reopen(pipeline: Pipeline) -> None:
    if pipeline.status != PipelineStatus.RUNNING.value:
        db.session.execute(
            sa.update(Pipeline)
            .where(Pipeline.id == pipeline.id)
            .values(status=PipelineStatus.RUNNING.value, finished_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(pipeline)
        announce_pipeline(pipeline)


def play_job(tenant, job_id: int, *, actor=None) -> Job:
    """Start a `when: manual` job that waits for a person."""
    job = get_job(tenant, job_id)
    if job.status != JobStatus.MANUAL:
        raise Conflict(msg("Job '%(job_name)s' is %(job_status)s; only a job waiting in 'manual' can be "
                           "played.", job_name=job.name, job_status=job.status))
    scheduler.lock()  # before the rows it changes: a scheduling pass may be settling this pipeline
    scheduler.transition(
        job,
        JobStatus.MANUAL,
        status=JobStatus.CREATED.value,
        played_by_email=_actor_email(actor) or "someone",
    )
    _reopen(job.pipeline)
    audit.record(
        "cicd.job.play",
        "cicd_job",
        f"{job.pipeline.repository}#{job.pipeline.number}/{job.name}",
        tenant=tenant,
        actor=actor,
        details={"id": job.id},
    )
    scheduler.advance_tenant(tenant.id, job.pipeline)
    return job
