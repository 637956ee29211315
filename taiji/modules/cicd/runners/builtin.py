"""The built-in runner: Celery workers consuming the ``cicd.builtin`` queue run the jobs themselves.

A job runs in ``TAIJI_DATA_DIR/cicd/workspaces/<job>-<attempt>``, each script line as its own
process group with the job's environment only (never the worker's: no TAIJI_SECRET_KEY, no
database URL). The loop around a line writes the log, enforces the limits and heartbeats; a
canceled job is noticed there, from whichever process canceled it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import socket
import time
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from taiji.platform.db import db, utcnow
from taiji.platform.tenancy import Tenant

from ..models import FailureReason, Job, JobStatus
from ..services import scheduler
from ..services.artifacts import store_artifact
from ..services.logs import append_log
from ..services.secrets import secret_values
from . import leftovers
from .base import Runner, register_runner
from .process import LineLimits, LogWriter, retrying, run_line
from .workspace import WorkspaceError, checkout, find_files, junit_summary, make_venv

log = logging.getLogger("taiji.cicd.runner")

QUEUE = "cicd.builtin"
BOLD, GREEN, RED, CYAN, RESET = "\x1b[1m", "\x1b[32m", "\x1b[31m", "\x1b[36m", "\x1b[0m"


class BuiltinRunner(Runner):
    name = "builtin"
    queue = QUEUE

    def start(self, job_id: int, attempt: int) -> None:
        from ..tasks import run_job

        run_job.apply_async((job_id, attempt), queue=self.queue)


register_runner(BuiltinRunner())


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def workspaces_root() -> Path:
    return Path(current_app.config["DATA_DIR"]) / "cicd" / "workspaces"


def job_environment(job: Job, workspace: Path, secrets: dict[str, str], venv: Path | None) -> dict[str, str]:
    """The job's whole environment: built from scratch, nothing inherited from the worker."""
    config = current_app.config
    pipeline = job.pipeline
    tenant_slug = db.session.execute(sa.select(Tenant.slug).where(Tenant.id == job.tenant_id)).scalar_one()
    path = config["CICD_JOB_PATH"]
    env = {
        "PATH": path,
        "HOME": str(workspace),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm",
        "TMPDIR": str(workspace / ".tmp"),
    }
    env.update(job.spec.get("env") or {})
    env.update(pipeline.variables or {})
    env.update(secrets)
    ref = pipeline.ref
    env.update(
        {
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
            "TAIJI_REF_NAME": ref.removeprefix("refs/heads/").removeprefix("refs/tags/"),
            "TAIJI_WORKSPACE": str(workspace),
        }
    )
    if ref.startswith("refs/tags/"):
        env["TAIJI_TAG"] = env["TAIJI_REF_NAME"]
    else:
        env["TAIJI_BRANCH"] = env["TAIJI_REF_NAME"]
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    return env


def _beat(job: Job, attempt: int):
    """Heartbeat: stamp the row; report "canceled" or "runner_lost" when the job is no longer ours.

    The reaper hands a job whose heartbeat is older than TAIJI_CICD_RUNNER_LOST_SECONDS to another
    attempt. A runner that cannot record its heartbeat (the database out of its reach) must not
    let its attempt run into that retry: after half that time without a recorded beat it reports
    "runner_lost" itself, and the line's processes are killed well before the retry may start.
    """
    lease = current_app.config["CICD_RUNNER_LOST_SECONDS"]
    give_up = lease / 2
    last_recorded = [time.monotonic()]
    # A plain id: reading the ORM object's after a commit reloads it, which fails with the database.
    job_id = job.id

    def stamp() -> int:
        db.session.commit()
        updated = db.session.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.attempt == attempt, Job.status == JobStatus.RUNNING.value)
            .values(heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        return updated

    def owner() -> str:
        row = db.session.execute(sa.select(Job.status, Job.attempt).where(Job.id == job_id)).one_or_none()
        db.session.commit()
        if row is None or row.attempt != attempt:
            return "runner_lost"
        return "canceled"

    def beat() -> str | None:
        started = time.monotonic()
        try:
            if stamp():
                last_recorded[0] = started
                return None
            return owner()
        except sa.exc.DBAPIError:
            # One failed beat is nothing (the next comes soon); only a silence that would let the
            # reaper start another attempt stops this one.
            db.session.rollback()
            if time.monotonic() - last_recorded[0] >= give_up:
                log.warning("no heartbeat recorded for %.0fs: stopping the job", give_up,
                            extra={"job": job_id})
                return "runner_lost"
            return None

    return beat


def _hold_write_lock(job: Job) -> None:
    """Start a unit of work with a write (it doubles as a heartbeat). On SQLite, a transaction that
    reads first and writes later is refused when another thread wrote in between; one that writes
    first waits for the lock instead."""
    db.session.commit()
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job.id)
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def execute(job_id: int, attempt: int) -> str:
    """Run one attempt of a job to its end. Returns the outcome (for logs and tests).

    A copy of the task that arrives for an attempt already taken (redelivery after a worker
    loss, a duplicate message) finds the job not pending, or a newer attempt, and does nothing.
    """
    now = utcnow()
    # Claim first, read after: the claim is the unit of work's first statement, so on SQLite it
    # takes the write lock before any read could pin an older snapshot.
    claimed = db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.attempt == attempt, Job.status == JobStatus.PENDING.value)
        .values(status=JobStatus.RUNNING.value, started_at=now, heartbeat_at=now, worker=worker_name())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        db.session.commit()
        return "not-pending"
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    scheduler.mark_started(job.pipeline)
    db.session.commit()
    return _run(job, attempt)


def _run(job: Job, attempt: int) -> str:
    config = current_app.config
    pipeline = job.pipeline
    spec = job.spec
    secrets, missing, withheld = secret_values(
        job.tenant_id, pipeline.repository, spec.get("secrets") or [], protected=pipeline.protected
    )
    writer = LogWriter(job, list(secrets.values()))
    workspace = workspaces_root() / f"{job.id}-{attempt}"
    venv_dir = workspaces_root() / f"{job.id}-{attempt}.venv"
    started = time.monotonic()
    deadline = started + int(spec.get("timeout") or 1800)
    reason, exit_code, junit = None, None, None
    written = [0]
    try:
        writer.write(
            f"{CYAN}Running on {worker_name()} (attempt {attempt}){RESET}\n"
            f"{CYAN}Checking out {pipeline.sha[:12]} ({pipeline.ref}){RESET}\n"
        )
        if missing:
            raise WorkspaceError(f"secret(s) {', '.join(missing)} are not set for this tenant or repository")
        if withheld:
            raise WorkspaceError(
                f"secret(s) {', '.join(withheld)} are protected: they are given only to pipelines of a "
                f"protected branch (one whose protection names who may push), started by a push or "
                f"schedule there or by someone who may push there; this pipeline ({pipeline.ref}) is not "
                "one. Run it on such a branch, or an owner or admin can unprotect the secret"
            )
        if not pipeline.source:
            raise WorkspaceError("the pipeline names no repository to check out")
        writer.write(checkout(pipeline.source, pipeline.sha, workspace, config["CICD_JOB_PATH"]))
        (workspace / ".tmp").mkdir(exist_ok=True)
        venv = make_venv(config["CICD_JOB_PYTHON"], venv_dir, config["CICD_JOB_PATH"])
        env = job_environment(job, workspace, secrets, venv)
        limits = LineLimits(
            deadline=deadline,
            output_bytes=config["CICD_OUTPUT_LIMIT_MB"] * 1024 * 1024,
            cpu_seconds=config["CICD_CPU_SECONDS"],
            memory_bytes=config["CICD_MEMORY_MB"] * 1024 * 1024,
            grace=config["CICD_KILL_GRACE_SECONDS"],
            heartbeat=config["CICD_HEARTBEAT_SECONDS"],
        )
        beat = _beat(job, attempt)
        for line in spec["script"]:
            writer.write(f"{BOLD}{GREEN}$ {line}{RESET}\n")
            result = run_line(
                line, cwd=str(workspace), env=env, writer=writer, limits=limits, beat=beat, written=written
            )
            exit_code, reason = result.exit_code, result.reason
            if reason:
                break
        junit = junit_summary(workspace, spec.get("junit") or [])
        if reason is None:
            reason = _collect(job, workspace, writer)
    except WorkspaceError as exc:
        reason = FailureReason.SYSTEM.value
        writer.write(f"{RED}{exc}{RESET}\n")
    except Exception as exc:  # the runner's own failure must still finish the job
        log.exception("job failed in the runner", extra={"job": job.id})
        db.session.rollback()
        reason = FailureReason.SYSTEM.value
        writer.write(f"{RED}The runner failed: {exc.__class__.__name__}: {exc}{RESET}\n")
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
        shutil.rmtree(venv_dir, ignore_errors=True)
    return _finish(job, attempt, reason, exit_code, junit, writer, time.monotonic() - started)


_MESSAGES = {
    "exit_status": "Job failed: exit status {code}",
    "timeout": "Job failed: it ran longer than its timeout ({timeout}s) and was stopped",
    "output_limit": "Job failed: its log passed the output limit and it was stopped",
    "canceled": "Job canceled: its processes were stopped",
    "runner_lost": "This attempt was taken over by another worker",
    "system": "Job failed: the runner could not prepare or finish it",
}


def _finish(job: Job, attempt: int, reason, exit_code, junit, writer: LogWriter, seconds: float) -> str:
    if reason is None:
        writer.write(f"{GREEN}Job succeeded in {seconds:.1f}s{RESET}\n")
    else:
        text = _MESSAGES.get(reason, reason).format(code=exit_code, timeout=job.spec.get("timeout"))
        writer.write(f"{RED}{text}{RESET}\n")
    writer.flush(final=True)
    if reason == "runner_lost":
        db.session.commit()
        return reason
    status = JobStatus.SUCCESS if reason is None else JobStatus.FAILED

    def record() -> None:
        # The outcome must land even when the database was briefly busy: else the job waits for
        # the reaper to call it lost.
        db.session.commit()
        scheduler.finish_job(
            job,
            status,
            reason=FailureReason(reason) if reason else None,
            exit_code=exit_code,
            junit=junit,
            attempt=attempt,
        )
        db.session.commit()

    retrying(record)
    return reason or "success"


def _collect(job: Job, workspace: Path, writer: LogWriter) -> str | None:
    """Keep the artifacts; publish those under `publish`. Returns a failure reason or None."""
    artifacts = job.spec.get("artifacts") or {}
    files = find_files(workspace, artifacts.get("paths") or [])
    if artifacts.get("paths") and not files:
        writer.write(f"{CYAN}No files matched artifacts.paths {artifacts['paths']}{RESET}\n")
    stored = []
    _hold_write_lock(job)
    for rel, path in files:
        stored.append(store_artifact(job, path, rel, expire_in=artifacts.get("expire_in")))
        writer.write(f"{CYAN}Artifact {rel} ({path.stat().st_size} bytes){RESET}\n")
    db.session.commit()
    repository = artifacts.get("publish")
    if not repository or not stored:
        return None
    from taiji.modules.bpr import services as bpr_services

    from ..services.artifacts import artifact_file

    tenant = db.session.get(Tenant, job.tenant_id)
    failed = False
    for artifact in stored:
        source = {
            "pipeline": job.pipeline_id,
            "job": job.id,
            "repository": job.pipeline.repository,
            "sha": job.pipeline.sha,
        }
        _hold_write_lock(job)
        try:
            with db.session.begin_nested():
                result = bpr_services.publish_artifact(
                    tenant,
                    repository,
                    artifact_file(job, artifact.id),
                    path=artifact.path.rsplit("/", 1)[-1],
                    actor=None,
                    source=source,
                )
            artifact.published = {"repository": repository, **_jsonable(result)}
            writer.write(f"{GREEN}Published {artifact.path} to {repository}{RESET}\n")
        except Exception as exc:  # a refused upload (duplicate, quota) fails the job, with the reason
            failed = True
            detail = getattr(exc, "detail", None) or str(exc)
            artifact.published = {"repository": repository, "error": detail[:500]}
            writer.write(f"{RED}Could not publish {artifact.path} to {repository}: {detail}{RESET}\n")
        db.session.commit()
    return FailureReason.SYSTEM.value if failed else None


def _jsonable(result) -> dict:
    if not isinstance(result, dict):
        return {}
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in result.items()}


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
        if not leftovers.stop_lost_attempt(job, attempt):
            continue  # something of the lost attempt still runs here: no retry beside it
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
