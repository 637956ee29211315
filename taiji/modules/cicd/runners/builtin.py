"""The built-in runner: Celery workers consuming the ``cicd.builtin`` queue run the jobs themselves.

This is the job lifecycle, one piece of code for every executor (executor.py): claim the job,
check it out in ``TAIJI_DATA_DIR/cicd/workspaces/<job>-<attempt>/workspace``, run each script line
through the executor with the job's environment only (never the worker's: no TAIJI_SECRET_KEY, no
database URL), write the log, enforce the limits and heartbeat (a canceled job is noticed there,
from whichever process canceled it), collect artifacts and reports, finish.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from taiji.platform.db import db, sqlite_patience, utcnow
from taiji.platform.tenancy import Tenant

from ..models import FailureReason, Job, JobStatus
from ..services import scheduler
from ..services.logs import announce_job
from ..services.secrets import secret_values
from .base import BUILTIN_KINDS, Runner, default_runner, register_runner
from .collect import collect
from .configure import configure
from .disk import JobDisk
from .executor import ExecLimits, Executor, ExecutorError, JobContext, executor_class, make_executor
from .process import LineLimits, LogWriter, retrying, run_line
from .reaper import reap  # noqa: F401 - `builtin.reap` is the name the task and tests use
from .workspace import WorkspaceError, checkout, junit_summary

log = logging.getLogger("taiji.cicd.runner")

QUEUE = "cicd.builtin"
BOLD, GREEN, RED, CYAN, RESET = "\x1b[1m", "\x1b[32m", "\x1b[31m", "\x1b[36m", "\x1b[0m"


class BuiltinRunner(Runner):
    name = "builtin"
    queue = QUEUE

    def start(self, job_id: int, attempt: int) -> None:
        from ..tasks import run_job

        run_job.apply_async((job_id, attempt), queue=self.queue)


_builtin = BuiltinRunner()
register_runner(_builtin)
for _kind in BUILTIN_KINDS:
    register_runner(_builtin, name=_kind)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def workspaces_root() -> Path:
    return Path(current_app.config["DATA_DIR"]) / "cicd" / "workspaces"


def executor_kind(job: Job) -> str:
    """The executor that runs ``job``'s lines: its runner, decided when the pipeline was made
    (jobs made before runners were chosen say ``builtin``: the platform's default now)."""
    if job.runner in BUILTIN_KINDS:
        return job.runner
    return default_runner(current_app.config)


def _no_executor(kind: str) -> str | None:
    if executor_class(kind) is not None:
        return None
    if kind == "docker":
        return (
            "runner 'docker': no Docker engine is configured on this platform "
            "(an administrator sets TAIJI_DOCKER_HOST)"
        )
    return f"runner '{kind}' is not available on this platform"


def job_context(job: Job, attempt: int, tenant_slug: str, disk: JobDisk) -> JobContext:
    config = current_app.config
    root = disk.root
    return JobContext(
        job_id=job.id,
        attempt=attempt,
        tenant_id=job.tenant_id,
        tenant=tenant_slug,
        name=job.name,
        spec=dict(job.spec),
        root=root,
        workspace=root / "workspace",
        limits=ExecLimits(
            cpu_seconds=config["CICD_CPU_SECONDS"],
            memory_bytes=config["CICD_MEMORY_MB"] * 1024 * 1024,
            disk_bytes=disk.limit,
            file_bytes=0 if disk.enforced_by_kernel else disk.limit,
        ),
        config=config,
        image=job.spec.get("image"),
    )


def job_environment(job: Job, workspace: str, secrets: dict[str, str]) -> dict[str, str]:
    """The job's whole environment: built from scratch, nothing inherited from the worker (the
    executor adds HOME, TMPDIR and its Python environment). ``workspace``: as the job sees it."""
    config = current_app.config
    pipeline = job.pipeline
    tenant_slug = db.session.execute(sa.select(Tenant.slug).where(Tenant.id == job.tenant_id)).scalar_one()
    path = config["CICD_JOB_PATH"]
    env = {
        "PATH": path,
        "HOME": workspace,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm",
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
            "TAIJI_WORKSPACE": workspace,
        }
    )
    if ref.startswith("refs/tags/"):
        env["TAIJI_TAG"] = env["TAIJI_REF_NAME"]
    else:
        env["TAIJI_BRANCH"] = env["TAIJI_REF_NAME"]
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
        # On SQLite a held database makes the UPDATE wait for its lock: never past the moment this
        # runner must give up (it waited the whole busy timeout, 20 s, past the reaper's lease).
        patience = max(0.5, give_up - (time.monotonic() - last_recorded[0]))
        with sqlite_patience(patience):
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
    announce_job(job)
    if job.runner not in BUILTIN_KINDS:  # made before runners were chosen: record the one used
        job.runner = executor_kind(job)
    scheduler.mark_started(job.pipeline)
    db.session.commit()
    return _run(job, attempt)


def _check_secrets(missing: list[str], withheld: list[str], ref: str) -> None:
    if missing:
        raise WorkspaceError(f"secret(s) {', '.join(missing)} are not set for this tenant or repository")
    if withheld:
        raise WorkspaceError(
            f"secret(s) {', '.join(withheld)} are protected: they are given only to pipelines of a "
            f"protected branch (one whose protection names who may push), started by a push or "
            f"schedule there or by someone who may push there; this pipeline ({ref}) is not "
            "one. Run it on such a branch, or an owner or admin can unprotect the secret"
        )


def _run(job: Job, attempt: int) -> str:
    config = current_app.config
    pipeline = job.pipeline
    spec = job.spec
    secrets, missing, withheld = secret_values(
        job.tenant_id, pipeline.repository, spec.get("secrets") or [], protected=pipeline.protected
    )
    writer = LogWriter(job, list(secrets.values()))
    tenant_slug = db.session.execute(sa.select(Tenant.slug).where(Tenant.id == job.tenant_id)).scalar_one()
    disk = JobDisk(workspaces_root() / f"{job.id}-{attempt}", config["CICD_DISK_MB"] * 1024 * 1024)
    started = time.monotonic()
    deadline = started + int(spec.get("timeout") or 1800)
    reason, exit_code, junit = None, None, None
    executor: Executor | None = None
    written = [0]
    kind = executor_kind(job)
    try:
        writer.write(f"{CYAN}Running on {worker_name()} (attempt {attempt}), runner {kind}{RESET}\n")
        _check_secrets(missing, withheld, pipeline.ref)
        if not pipeline.source:
            raise WorkspaceError("the pipeline names no repository to check out")
        if why := _no_executor(kind):
            raise ExecutorError(why)
        disk.create()
        context = job_context(job, attempt, tenant_slug, disk)
        executor = make_executor(kind, context)
        executor.log = lambda text: writer.write(f"{CYAN}{text}{RESET}\n")
        writer.write(f"{CYAN}{executor.describe()}{RESET}\n")
        if not executor.isolated:
            writer.write(f"{RED}This job is NOT isolated: it runs as the worker's user on its host.{RESET}\n")
        executor.prepare()
        writer.write(f"{CYAN}Checking out {pipeline.sha[:12]} ({pipeline.ref}){RESET}\n")
        writer.write(checkout(pipeline.source, pipeline.sha, context.workspace, config["CICD_JOB_PATH"]))
        if spec.get("config"):
            configure(job, spec["config"], context.workspace, writer)
        env = job_environment(job, executor.job_workspace, secrets)
        env.update(executor.setup(env))
        limits = LineLimits(
            deadline=deadline,
            output_bytes=config["CICD_OUTPUT_LIMIT_MB"] * 1024 * 1024,
            grace=config["CICD_KILL_GRACE_SECONDS"],
            heartbeat=config["CICD_HEARTBEAT_SECONDS"],
        )
        beat = _beat(job, attempt)

        def check() -> str | None:
            return FailureReason.DISK_LIMIT.value if disk.full() or executor.disk_full() else None

        for line in spec["script"]:
            writer.write(f"{BOLD}{GREEN}$ {line}{RESET}\n")
            proc = executor.spawn(line, env)
            result = run_line(proc, writer=writer, limits=limits, beat=beat, written=written, check=check)
            exit_code, reason = result.exit_code, result.reason
            if reason == FailureReason.EXIT_STATUS.value and disk.full():
                reason = FailureReason.DISK_LIMIT.value  # the line failed because the disk was full
            elif reason in (None, FailureReason.EXIT_STATUS.value) and executor.disk_full(final=True):
                # Past the limit where nothing stops a write (a container's own file system).
                reason = FailureReason.DISK_LIMIT.value
            if reason:
                break
        if reason:
            executor.stop(limits.grace)
        executor.gather()
        junit = junit_summary(context.workspace, spec.get("junit") or [])
        if reason is None:
            reason = collect(job, context.workspace, writer)
    except (WorkspaceError, ExecutorError, OSError) as exc:
        reason = FailureReason.DISK_LIMIT.value if disk.full() else FailureReason.SYSTEM.value
        writer.write(f"{RED}{exc}{RESET}\n")
    except Exception as exc:  # the runner's own failure must still finish the job
        log.exception("job failed in the runner", extra={"job": job.id})
        db.session.rollback()
        reason = FailureReason.SYSTEM.value
        writer.write(f"{RED}The runner failed: {exc.__class__.__name__}: {exc}{RESET}\n")
    finally:
        _release(executor, disk, job.id)
    return _finish(job, attempt, reason, exit_code, junit, writer, time.monotonic() - started)


def _release(executor: Executor | None, disk: JobDisk, job_id: int) -> None:
    """Nothing of the job outlives it: its processes, then its folder."""
    if executor is not None:
        try:
            executor.stop(0)
        except Exception:
            log.exception("could not stop the job's executor", extra={"job": job_id})
        try:
            executor.teardown()
        except Exception:
            log.exception("could not tear the job's executor down", extra={"job": job_id})
    try:
        disk.release()
    except Exception:
        log.exception("could not remove the job's folder", extra={"job": job_id})


_MESSAGES = {
    "exit_status": "Job failed: exit status {code}",
    "timeout": "Job failed: it ran longer than its timeout ({timeout}s) and was stopped",
    "output_limit": "Job failed: its log passed the output limit and it was stopped",
    "disk_limit": "Job failed: it used all the disk a job may use ({disk} MiB) and was stopped",
    "canceled": "Job canceled: its processes were stopped",
    "runner_lost": "This attempt was taken over by another worker",
    "system": "Job failed: the runner could not prepare or finish it",
}


def _finish(job: Job, attempt: int, reason, exit_code, junit, writer: LogWriter, seconds: float) -> str:
    if reason is None:
        writer.write(f"{GREEN}Job succeeded in {seconds:.1f}s{RESET}\n")
    else:
        text = _MESSAGES.get(reason, reason).format(
            code=exit_code, timeout=job.spec.get("timeout"), disk=current_app.config["CICD_DISK_MB"]
        )
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
