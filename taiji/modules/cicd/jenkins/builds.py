"""Handing a job to Jenkins: choose the controller, create or update its pipeline job, trigger it.

``dispatch`` runs once per attempt (a Celery task after the commit that made the job pending).
It first inserts the attempt's ``JenkinsBuild`` row — a duplicate delivery of the task finds the
row and does nothing — then talks to the controller. Whatever stops it (no controller, a secret
missing, the controller down, credentials refused) ends the job as failed with the reason in its
log: a Jenkins job is never left pending with nobody following it. From the queue item on, the
poller (``follow.py``) takes over.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import jenkins
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from taiji.platform.db import db, utcnow
from taiji.platform.tenancy import Tenant

from ..models import FailureReason, Job, JobStatus
from ..runners.process import LogWriter
from ..services import scheduler
from ..services.logs import append_log
from ..services.secrets import secret_values
from . import client, controllers, jenkinsfile
from .models import JenkinsBuild, RepositorySettings

log = logging.getLogger("taiji.cicd.jenkins")

CYAN, GREEN, RED, RESET = "\x1b[36m", "\x1b[32m", "\x1b[31m", "\x1b[0m"


def repository_settings(tenant_id: int, repository: str) -> RepositorySettings | None:
    return db.session.execute(
        sa.select(RepositorySettings).where(
            RepositorySettings.tenant_id == tenant_id, RepositorySettings.repository == repository
        )
    ).scalar_one_or_none()


def latest_build(job: Job) -> JenkinsBuild | None:
    """The Jenkins build of the job's current attempt (for the job page's link)."""
    return db.session.execute(
        sa.select(JenkinsBuild).where(JenkinsBuild.job_id == job.id, JenkinsBuild.attempt == job.attempt)
    ).scalar_one_or_none()


def fail(
    job: Job,
    build: JenkinsBuild | None,
    message: str,
    reason: FailureReason = FailureReason.SYSTEM,
    *,
    status: JobStatus = JobStatus.FAILED,
) -> None:
    """End the job (pending or running) with ``message`` in its log; the build row is closed."""
    attempt = build.attempt if build is not None else job.attempt
    if job.status == JobStatus.PENDING and job.attempt == attempt:
        now = utcnow()
        if scheduler.transition(
            job, JobStatus.PENDING, status=JobStatus.RUNNING.value, started_at=now, heartbeat_at=now
        ):
            scheduler.mark_started(job.pipeline)
    append_log(job, f"{RED}{message}{RESET}\n")
    if build is not None:
        build.done = True
        build.held_sealed = None
    scheduler.finish_job(job, status, reason=reason if status != JobStatus.SUCCESS else None, attempt=attempt)


def dispatch(job_id: int, attempt: int) -> str:
    """Start one attempt of a job on Jenkins. Returns what happened (for logs and tests)."""
    job = db.session.get(Job, job_id)
    if job is None:
        return "gone"
    db.session.refresh(job)
    if job.attempt != attempt or job.status != JobStatus.PENDING:
        return "not-pending"
    build = JenkinsBuild(
        tenant_id=job.tenant_id,
        job_id=job.id,
        attempt=attempt,
        controller_name="",
        item="",
        log_offset=0,
        done=False,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(build)
            db.session.flush()
    except IntegrityError:
        return "duplicate"
    db.session.commit()
    try:
        return _dispatch(job, build)
    except Exception as exc:  # the runner's own failure must still end the job
        log.exception("dispatch to Jenkins failed", extra={"job": job_id})
        db.session.rollback()
        job = db.session.get(Job, job_id)
        build = db.session.get(JenkinsBuild, build.id)
        fail(job, build, f"Job failed: Taiji could not hand it to Jenkins ({exc.__class__.__name__}: {exc})")
        return "error"


def _dispatch(job: Job, build: JenkinsBuild) -> str:
    spec = job.spec or {}
    pipeline = job.pipeline
    options = spec.get("jenkins") or {}
    settings = repository_settings(job.tenant_id, pipeline.repository)
    wanted = options.get("controller") or (settings.jenkins_controller if settings else None)
    controller, why = controllers.find_controller(job.tenant_id, wanted)
    if controller is None:
        fail(job, build, f"Job failed: it runs on Jenkins, but {why}.")
        return "no-controller"
    build.controller_id, build.controller_name = controller.id, controller.name
    secrets, missing, withheld = secret_values(
        job.tenant_id, pipeline.repository, spec.get("secrets") or [], protected=pipeline.protected
    )
    if missing:
        fail(
            job,
            build,
            f"Job failed: secret(s) {', '.join(missing)} are not set for this tenant or repository",
        )
        return "missing-secret"
    if withheld:
        fail(
            job,
            build,
            f"Job failed: secret(s) {', '.join(withheld)} are protected: they are given only to "
            f"pipelines of a protected branch; this pipeline ({pipeline.ref}) is not one",
        )
        return "withheld-secret"
    handle = controllers.handle(controller)
    existing = options.get("job")
    try:
        server = client.connect(handle)
        if existing:
            item, parameters = existing, dict(options.get("parameters") or {})
        else:
            item, parameters = _generated(server, job, secrets)
        queue_id = controllers.trigger(server, item, parameters)
    except Exception as exc:
        error = client.explain(exc, handle)
        if error.kind == client.NOT_FOUND and existing:
            message = f"Job failed: Jenkins controller '{controller.name}' has no job '{existing}'."
        else:
            message = f"Job failed: {error}"
        fail(job, build, message)
        return error.kind
    build.item, build.queue_id = item, queue_id
    build.last_contact_at = utcnow()
    writer = LogWriter(job, list(secrets.values()))
    what = f"job '{item}'" if existing else f"the generated job '{item}'"
    append_log(
        job,
        writer.mask(
            f"{CYAN}Queued on Jenkins controller '{controller.name}' ({controller.url}): {what}, queue item "
            f"{queue_id}{RESET}\n"
        ),
    )
    return "queued"


def context_parameters(job: Job, git_url: str | None) -> dict[str, str]:
    """The run's context, as the built-in runner gives it to a job's environment."""
    pipeline = job.pipeline
    tenant_slug = db.session.execute(sa.select(Tenant.slug).where(Tenant.id == job.tenant_id)).scalar_one()
    ref = pipeline.ref
    ref_name = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    values = {
        "CI": "true",
        "TAIJI_CI": "true",
        "TAIJI_TENANT": tenant_slug,
        "TAIJI_REPOSITORY": pipeline.repository,
        "TAIJI_PIPELINE_ID": str(pipeline.id),
        "TAIJI_PIPELINE_NUMBER": str(pipeline.number),
        "TAIJI_PIPELINE_TRIGGER": pipeline.trigger,
        "TAIJI_JOB_ID": str(job.id),
        "TAIJI_JOB_NAME": job.name,
        "TAIJI_JOB_ATTEMPT": str(job.attempt),
        "TAIJI_COMMIT_SHA": pipeline.sha,
        "TAIJI_REF": ref,
        "TAIJI_REF_NAME": ref_name,
        "TAIJI_TAG" if ref.startswith("refs/tags/") else "TAIJI_BRANCH": ref_name,
        "TAIJI_GIT_URL": git_url or "",
    }
    return values


def _git_url(job: Job) -> str | None:
    """Where a Jenkins agent clones the commit from: the hosted repository's HTTP URL, or an
    external repository's own URL (a local path means nothing to a remote agent)."""
    from taiji.modules.vcs import services as vcs

    tenant = db.session.get(Tenant, job.tenant_id)
    repo = vcs.find_repository(tenant, job.pipeline.repository)
    if repo is None:
        return None
    if getattr(repo, "kind", None) == "hosted":
        return vcs.http_url(repo, tenant)
    source = job.pipeline.source or ""
    return source if source.startswith(("http://", "https://", "ssh://", "git@")) else None


def definition(job: Job, secrets: dict[str, str], git_url: str | None) -> jenkinsfile.Pipeline:
    spec = job.spec or {}
    options = spec.get("jenkins") or {}
    context = context_parameters(job, git_url)
    variables = sorted((job.pipeline.variables or {}).keys())
    return jenkinsfile.Pipeline(
        name=job.name,
        script=list(spec.get("script") or []),
        env=dict(spec.get("env") or {}),
        timeout=int(spec.get("timeout") or 1800),
        checkout=bool(options.get("checkout", True)) and bool(git_url),
        junit=list(spec.get("junit") or []),
        artifacts=list((spec.get("artifacts") or {}).get("paths") or []),
        parameters=sorted(context),
        # A secret named like a variable wins, as in the built-in runner's environment.
        passwords=sorted(set(variables) | set(secrets)),
    )


def _generated(server, job: Job, secrets: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Create or update the job's pipeline job on the controller; returns (item, build parameters)."""
    git_url = _git_url(job)
    spec = definition(job, secrets, git_url)
    pipeline = job.pipeline
    tenant_slug = db.session.execute(sa.select(Tenant.slug).where(Tenant.id == job.tenant_id)).scalar_one()
    config = jenkinsfile.config_xml(
        spec,
        f"Generated by Taiji from .taiji.yml of {tenant_slug}/{pipeline.repository}, job '{job.name}'. "
        "Taiji overwrites changes made here.",
    )
    item = jenkinsfile.item_name(tenant_slug, pipeline.repository, job.name, config)
    ensure_job(server, item, config)
    parameters = context_parameters(job, git_url)
    parameters.update(pipeline.variables or {})
    parameters.update(secrets)
    return item, parameters


def _script_of(config: str) -> str | None:
    try:
        root = ET.fromstring(config)  # noqa: S314 - the controller's answer; expat refuses entity bombs
    except ET.ParseError:
        return None
    found = root.find("./definition/script")
    return found.text if found is not None else None


def ensure_job(server, item: str, config: str) -> None:
    """createItem when the controller has no such job; job/X/config.xml when its script differs
    (someone edited it there)."""
    try:
        current = server.get_job_config(item)
    except jenkins.NotFoundException:
        current = None
    if current is None:
        try:
            server.create_job(item, config)
            return
        except jenkins.JenkinsException:
            # Another pipeline created it a moment ago: fine when it holds the same script.
            current = server.get_job_config(item)
    if _script_of(current) != _script_of(config):
        server.reconfig_job(item, config)
