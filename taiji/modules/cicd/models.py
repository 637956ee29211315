"""Pipelines, their jobs, job logs (in chunks), artifacts, the tenant's CI secrets and schedules."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, intpk, str100, str255, timestamp


class PipelineStatus(enum.StrEnum):
    CREATED = "created"
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    ERROR = "error"


PIPELINE_DONE = frozenset(
    {PipelineStatus.SUCCESS, PipelineStatus.FAILED, PipelineStatus.CANCELED, PipelineStatus.ERROR}
)


class JobStatus(enum.StrEnum):
    CREATED = "created"  # waiting for its needs, or for a free slot of the tenant's quota
    PENDING = "pending"  # handed to a runner, not started yet
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"  # a job it needs failed or was canceled
    MANUAL = "manual"  # `when: manual`: waits for a person to play it


JOB_DONE = frozenset({JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SKIPPED})
JOB_ACTIVE = frozenset({JobStatus.PENDING, JobStatus.RUNNING})


class FailureReason(enum.StrEnum):
    TIMEOUT = "timeout"
    EXIT_STATUS = "exit_status"
    RUNNER_LOST = "runner_lost"
    CANCELED = "canceled"
    OUTPUT_LIMIT = "output_limit"
    DISK_LIMIT = "disk_limit"  # the job used all the disk it may (TAIJI_CICD_DISK_MB)
    SYSTEM = "system"  # the checkout or the artifact upload failed, not the script
    UNSTABLE = "unstable"  # Jenkins: the build ran but is unstable (its tests failed)


class Trigger(enum.StrEnum):
    PUSH = "push"
    MANUAL = "manual"
    SCHEDULE = "schedule"
    RETRY = "retry"


class Pipeline(TenantOwnedMixin, TimestampMixin, Model):
    __tablename__ = "cicd_pipeline"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "repository", "number"),
        # One push delivery makes one pipeline, however often the event arrives.
        sa.UniqueConstraint("tenant_id", "dedupe_key"),
        sa.Index("ix_cicd_pipeline_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[intpk]
    repository: Mapped[str100]
    repository_id: Mapped[str | None] = mapped_column(sa.String(64))
    number: Mapped[int]
    ref: Mapped[str255]
    sha: Mapped[str] = mapped_column(sa.String(64))
    trigger: Mapped[str] = mapped_column(sa.String(20))
    variables: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(20), default=PipelineStatus.CREATED)
    error: Mapped[str | None] = mapped_column(sa.Text)  # in English, for logs, events and the CLI
    # The `.taiji.yml`'s errors as messages (pipeline_file.FileError.to_json), shown in the reader's language.
    error_messages: Mapped[list | None] = mapped_column(sa.JSON)
    # What the runner clones: the hosted repository's folder on the shared data volume.
    source: Mapped[str | None] = mapped_column(sa.Text)
    # The parsed `.taiji.yml` this pipeline runs (kept so that a retry runs the same file).
    config: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(255))
    retry_of_id: Mapped[int | None]
    created_by_id: Mapped[int | None]
    created_by_email: Mapped[str | None] = mapped_column(sa.String(255))
    # Runs a protected branch, started by a push there, a schedule or someone who may push there:
    # only such a pipeline's jobs receive protected secrets (services/secrets.py).
    protected: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    started_at: Mapped[timestamp | None]
    finished_at: Mapped[timestamp | None]

    jobs: Mapped[list[Job]] = relationship(
        back_populates="pipeline", order_by="Job.position", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def error_text(self) -> str | None:
        """Why the pipeline could not run, in the current request's language when it can be."""
        from .pipeline_file import describe

        return describe(self.error_messages, self.error)

    @property
    def done(self) -> bool:
        return self.status in PIPELINE_DONE

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or dt.datetime.now(dt.UTC)
        return (end - self.started_at).total_seconds()

    def __repr__(self) -> str:
        return f"<Pipeline {self.repository}#{self.number} {self.status}>"


class Job(TenantOwnedMixin, TimestampMixin, Model):
    __tablename__ = "cicd_job"
    __table_args__ = (
        sa.UniqueConstraint("pipeline_id", "name"),
        sa.Index("ix_cicd_job_status_heartbeat", "status", "heartbeat_at"),
    )

    id: Mapped[intpk]
    pipeline_id: Mapped[int] = mapped_column(
        sa.ForeignKey("cicd_pipeline.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str100]
    position: Mapped[int] = mapped_column(default=0)
    needs: Mapped[list] = mapped_column(sa.JSON, default=list)
    # The job's part of the file: script, env, timeout, artifacts, secrets, reports.
    spec: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(20), default=JobStatus.CREATED)
    failure_reason: Mapped[str | None] = mapped_column(sa.String(20))
    exit_code: Mapped[int | None]
    attempt: Mapped[int] = mapped_column(default=1)
    allow_failure: Mapped[bool] = mapped_column(default=False)
    when: Mapped[str] = mapped_column(sa.String(20), default="on_success")
    runner: Mapped[str] = mapped_column(sa.String(50), default="builtin")
    worker: Mapped[str | None] = mapped_column(sa.String(255))
    # Container runners: the image the job ran in, and its digest (the registry's, else the image id).
    image: Mapped[str | None] = mapped_column(sa.String(255))
    image_digest: Mapped[str | None] = mapped_column(sa.String(100))
    heartbeat_at: Mapped[timestamp | None]
    queued_at: Mapped[timestamp | None]
    started_at: Mapped[timestamp | None]
    finished_at: Mapped[timestamp | None]
    log_size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    log_seq: Mapped[int] = mapped_column(default=0)
    junit: Mapped[dict | None] = mapped_column(sa.JSON)
    played_by_email: Mapped[str | None] = mapped_column(sa.String(255))

    pipeline: Mapped[Pipeline] = relationship(back_populates="jobs")
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="job", order_by="Artifact.path", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def done(self) -> bool:
        return self.status in JOB_DONE

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or dt.datetime.now(dt.UTC)
        return (end - self.started_at).total_seconds()

    def __repr__(self) -> str:
        return f"<Job {self.name} {self.status}>"


class LogChunk(Model):
    """A piece of a job's output, as produced (at most 64 KiB); ``offset`` is its first character's
    position in the whole log, so readers page with offsets and never load everything."""

    __tablename__ = "cicd_log_chunk"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "seq"),
        sa.Index("ix_cicd_log_chunk_job_offset", "job_id", "offset"),
    )

    id: Mapped[intpk]
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("cicd_job.id", ondelete="CASCADE"))
    seq: Mapped[int]
    offset: Mapped[int] = mapped_column(sa.BigInteger)
    text: Mapped[str] = mapped_column(sa.Text)
    # When the runner wrote it (None for chunks older than this column): the log's per-line time.
    created_at: Mapped[timestamp | None]
    # How many newlines ``text`` holds (None for older chunks): a line's number without reading the log.
    newlines: Mapped[int | None]


class Artifact(TenantOwnedMixin, Model):
    __tablename__ = "cicd_artifact"
    __table_args__ = (sa.UniqueConstraint("job_id", "path"),)

    id: Mapped[intpk]
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("cicd_job.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(sa.String(1000))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[timestamp]
    expires_at: Mapped[timestamp | None] = mapped_column(index=True)
    # Where it went: {"repository": ..., "path": ..., "url": ...} or {"repository": ..., "error": ...}
    published: Mapped[dict | None] = mapped_column(sa.JSON)

    job: Mapped[Job] = relationship(back_populates="artifacts")


class Secret(TenantOwnedMixin, TimestampMixin, Model):
    """A value jobs may reference by name; sealed at rest, never served back."""

    __tablename__ = "cicd_secret"
    # "" = every repository of the tenant; a repository's own value wins over the tenant-wide one.
    __table_args__ = (sa.UniqueConstraint("tenant_id", "repository", "name"),)

    id: Mapped[intpk]
    name: Mapped[str100]
    repository: Mapped[str] = mapped_column(sa.String(100), default="")
    sealed: Mapped[str] = mapped_column(sa.Text)
    updated_by_email: Mapped[str | None] = mapped_column(sa.String(255))
    # Given only to the jobs of protected pipelines (Pipeline.protected), as GitLab's protected
    # variables: whoever can push a branch can otherwise make a job print the value.
    protected: Mapped[bool] = mapped_column(default=True, server_default=sa.true())


class Schedule(TenantOwnedMixin, Model):
    """A cron line of a branch's `.taiji.yml`, remembered at push time; the beat task runs it."""

    __tablename__ = "cicd_schedule"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "repository", "ref", "cron"),)

    id: Mapped[intpk]
    repository: Mapped[str100]
    ref: Mapped[str255]
    cron: Mapped[str100]
    next_run_at: Mapped[timestamp] = mapped_column(index=True)
    last_run_at: Mapped[timestamp | None]
    last_pipeline_id: Mapped[int | None]
