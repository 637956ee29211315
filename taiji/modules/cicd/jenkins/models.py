"""A tenant's Jenkins controllers, the builds Taiji follows on them, and each repository's CI settings."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, intpk, str100, timestamp


class JenkinsController(TenantOwnedMixin, TimestampMixin, Model):
    """A Jenkins server a tenant registered: where it is and who Taiji is there (an API token, sealed)."""

    __tablename__ = "cicd_jenkins_controller"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[str100]
    url: Mapped[str] = mapped_column(sa.String(500))
    username: Mapped[str] = mapped_column(sa.String(200))
    sealed_token: Mapped[str] = mapped_column(sa.Text)
    # The controller a `runner: jenkins` job goes to when it names none and the tenant has several.
    is_default: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    updated_by_email: Mapped[str | None] = mapped_column(sa.String(255))


class JenkinsBuild(TenantOwnedMixin, Model):
    """One attempt of a Taiji job on a controller: the queue item, then the build, followed by the
    poller. Inserted before anything is sent, so a duplicate start finds the row and does nothing."""

    __tablename__ = "cicd_jenkins_build"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "attempt"),
        sa.Index("ix_cicd_jenkins_build_open", "done", "job_id"),
    )

    id: Mapped[intpk]
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("cicd_job.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    controller_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cicd_jenkins_controller.id", ondelete="SET NULL"), index=True
    )
    controller_name: Mapped[str100]
    # The controller's job (an item Taiji generated, or an existing one a `jenkins: {job:}` names).
    item: Mapped[str] = mapped_column(sa.String(255))
    queue_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    number: Mapped[int | None]
    url: Mapped[str | None] = mapped_column(sa.String(1000))
    # Where the next progressiveText read starts (Jenkins' X-Text-Size).
    log_offset: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    result: Mapped[str | None] = mapped_column(sa.String(20))
    waiting_why: Mapped[str | None] = mapped_column(sa.String(500))
    done: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[timestamp]
    last_contact_at: Mapped[timestamp | None]
    # The first moment the controller could not be reached since it last answered.
    unreachable_since: Mapped[timestamp | None]
    # A poll holds the row until then, so that two polls never copy the same log text twice.
    lease_until: Mapped[timestamp | None]
    # The end of the last log text read, when it might begin a secret: sealed, shown (masked)
    # once the next text says what follows.
    held_sealed: Mapped[str | None] = mapped_column(sa.Text)


class RepositorySettings(TenantOwnedMixin, TimestampMixin, Model):
    """CI's settings of one repository (by name, as pipelines know repositories)."""

    __tablename__ = "cicd_repository_settings"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "repository"),)

    id: Mapped[intpk]
    repository: Mapped[str100]
    # The runner of the jobs that name none; None = the platform's own runner.
    default_runner: Mapped[str | None] = mapped_column(sa.String(50))
    # With default_runner "jenkins": which controller (None = the tenant's default one).
    jenkins_controller: Mapped[str | None] = mapped_column(sa.String(100))
    updated_by_email: Mapped[str | None] = mapped_column(sa.String(255))
