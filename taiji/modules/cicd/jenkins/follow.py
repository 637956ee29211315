"""Following a Jenkins build: queue item → build, its console text into the job's log, its end.

A periodic task (``cicd.poll_jenkins``) calls ``follow_all``; each open ``JenkinsBuild`` is
leased (``lease_until``) for the length of one poll, so that two polls never copy the same text.
One poll of one build, in one unit of work:

1. the job was canceled, or retried as another attempt → stop the build (or cancel the queue
   item), copy what is left of its log, close the row;
2. no build yet → read the queue item: its ``executable`` starts the job (running), ``why`` is
   shown while it waits, ``cancelled`` ends it;
3. a build → copy the console text from the offset (``logText/progressiveText?start=``, next
   offset in ``X-Text-Size``); once the build is no longer building, copy the rest, fetch the
   JUnit report and the artifacts, and finish the job with the result's state.

A controller that cannot be reached is tried again at the next poll; after
``TAIJI_CICD_RUNNER_LOST_SECONDS`` without an answer the job fails with that reason. Refused
credentials fail it at once. Every poll stamps the job's heartbeat, so the built-in runner's
reaper never takes a followed build for a lost one.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import sqlalchemy as sa
from flask import current_app

from taiji.platform import crypto
from taiji.platform.db import db, utcnow

from ..models import JOB_DONE, FailureReason, Job, JobStatus
from ..runners.process import LogWriter
from ..services import scheduler
from ..services.logs import append_log
from ..services.secrets import secret_values
from . import client, controllers, results
from .builds import CYAN, GREEN, RED, RESET, fail
from .models import JenkinsBuild, JenkinsController

log = logging.getLogger("taiji.cicd.jenkins")

LEASE_SECONDS = 60
HELD_PURPOSE = "cicd.jenkins.held"
# Console text copied per request; more is skipped with a note (the output limit stops such a job).
MAX_TEXT_BYTES = 8 * 1024 * 1024
# Jenkins' results, as Taiji's job states (failure reasons).
RESULTS = {
    "SUCCESS": (JobStatus.SUCCESS, None),
    "UNSTABLE": (JobStatus.FAILED, FailureReason.UNSTABLE),
    "FAILURE": (JobStatus.FAILED, FailureReason.EXIT_STATUS),
    "ABORTED": (JobStatus.FAILED, FailureReason.CANCELED),
    "NOT_BUILT": (JobStatus.FAILED, FailureReason.SYSTEM),
}
_MESSAGES = {
    "SUCCESS": "Job succeeded: the Jenkins build passed",
    "UNSTABLE": "Job failed: the Jenkins build is unstable (tests failed)",
    "FAILURE": "Job failed: the Jenkins build failed",
    "ABORTED": "Job failed: the Jenkins build was aborted on the controller",
    "NOT_BUILT": "Job failed: Jenkins did not build it (NOT_BUILT)",
}


def open_builds(limit: int = 200) -> list[int]:
    return list(
        db.session.execute(
            sa.select(JenkinsBuild.id)
            .where(JenkinsBuild.done.is_(False))
            .order_by(JenkinsBuild.id)
            .limit(limit)
        ).scalars()
    )


def follow_all() -> int:
    """Poll every open build once (each in its own unit of work). Returns how many were polled.

    A controller that did not answer one build's poll is not asked again in the same round: its
    other builds count the same trouble (their lost-runner clocks run on), so that one hanging
    controller costs the round one request timeout, not one per build, and the other controllers'
    builds are followed on time."""
    ids = open_builds()
    db.session.commit()
    polled = 0
    down: dict[int, client.JenkinsError] = {}
    for build_id in ids:
        try:
            if follow(build_id, down):
                polled += 1
            db.session.commit()
        except Exception:  # one build's trouble must not stop the others'
            log.exception("polling a Jenkins build failed", extra={"build": build_id})
            db.session.rollback()
    return polled


def follow_job(job_id: int) -> bool:
    """Poll the open build of one job now (after a cancel, for instance)."""
    build_id = db.session.execute(
        sa.select(JenkinsBuild.id)
        .where(JenkinsBuild.job_id == job_id, JenkinsBuild.done.is_(False))
        .order_by(JenkinsBuild.id.desc())
        .limit(1)
    ).scalar()
    return follow(build_id) if build_id is not None else False


def _lease(build_id: int) -> bool:
    now = utcnow()
    taken = db.session.execute(
        sa.update(JenkinsBuild)
        .where(
            JenkinsBuild.id == build_id,
            JenkinsBuild.done.is_(False),
            sa.or_(JenkinsBuild.lease_until.is_(None), JenkinsBuild.lease_until < now),
        )
        .values(lease_until=now + dt.timedelta(seconds=LEASE_SECONDS))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(taken)


def follow(build_id: int, down: dict[int, client.JenkinsError] | None = None) -> bool:
    """One poll of one build (see the module text). False when another poll holds it. ``down``:
    the controllers (by id) that did not answer earlier in this round, and why."""
    if not _lease(build_id):
        return False
    build = db.session.get(JenkinsBuild, build_id)
    db.session.refresh(build)
    job = db.session.get(Job, build.job_id)
    db.session.refresh(job)
    try:
        _follow(job, build, {} if down is None else down)
    finally:
        build.lease_until = None
        db.session.flush()
    return True


def _secrets(job: Job) -> list[str]:
    names = (job.spec or {}).get("secrets") or []
    if not names:
        return []
    values, _missing, _withheld = secret_values(
        job.tenant_id, job.pipeline.repository, names, protected=job.pipeline.protected
    )
    return list(values.values())


class _Log:
    """Console text into the job's log, masked; a tail that might begin a secret waits (sealed)."""

    def __init__(self, job: Job, build: JenkinsBuild):
        self.job, self.build = job, build
        self.writer = LogWriter(job, _secrets(job))

    def add(self, text: str, *, final: bool = False) -> None:
        held = crypto.unseal(self.build.held_sealed, HELD_PURPOSE).decode() if self.build.held_sealed else ""
        self.writer.pending = held + text
        cut = (
            len(self.writer.pending)
            if final or not self.writer.masks
            else (len(self.writer.pending) - self.writer._partial_tail())
        )
        # Never cut inside a secret either: move the cut before any secret it would split.
        for value in self.writer.masks:
            start = self.writer.pending.find(value, max(0, cut - len(value) + 1))
            if 0 <= start < cut < start + len(value):
                cut = start
        emitted, rest = self.writer.pending[:cut], self.writer.pending[cut:]
        self.build.held_sealed = crypto.seal(rest, HELD_PURPOSE) if rest else None
        if emitted:
            append_log(self.job, self.writer.mask(emitted))

    def note(self, text: str) -> None:
        self.add(text, final=True)


def _stop_remote(server, build: JenkinsBuild) -> None:
    if build.number is not None:
        server.stop_build(build.item, build.number)
    elif build.queue_id is not None:
        server.cancel_queue(build.queue_id)


def _follow(job: Job, build: JenkinsBuild, down: dict[int, client.JenkinsError]) -> None:
    now = utcnow()
    superseded = job.attempt != build.attempt
    if build.queue_id is None:
        # The dispatch did not get as far as a queue item (its worker died): nothing to follow.
        lost = now - build.created_at > dt.timedelta(seconds=current_app.config["CICD_RUNNER_LOST_SECONDS"])
        if superseded or job.status in JOB_DONE:
            build.done = True
        elif lost:
            fail(
                job, build, "Job failed: the hand-over to Jenkins did not complete", FailureReason.RUNNER_LOST
            )
        return
    controller = db.session.get(JenkinsController, build.controller_id) if build.controller_id else None
    if controller is None:
        if not superseded and job.status not in JOB_DONE:
            fail(
                job,
                build,
                f"Job failed: Jenkins controller '{build.controller_name}' was removed while it "
                "ran the build",
            )
        build.done = True
        return
    if controller.id in down:
        _trouble(job, build, down[controller.id])
        return
    handle = controllers.handle(controller)
    output = _Log(job, build)
    try:
        server = client.connect(handle)
        if superseded:
            # The job runs again as a newer attempt, whose runner owns the log now.
            _stop_remote(server, build)
            build.done, build.held_sealed = True, None
            return
        if job.status == JobStatus.CANCELED:
            _stop_remote(server, build)
            if build.number is not None:
                _copy_log(server, build, output, drain=True)
            output.note(f"{RED}The Jenkins build was stopped{RESET}\n")
            build.done = True
            return
        if job.status in JOB_DONE:
            build.done = True
            return
        if build.number is None and not _queue(server, job, build, output):
            _contact(build)
            return
        _build(server, job, build, output)
        _contact(build)
    except Exception as exc:
        if not client.expected(exc):
            log.exception("following a Jenkins build failed", extra={"job": job.id})
        error = client.explain(exc, handle)
        if error.kind == client.UNREACHABLE:
            down[controller.id] = error
        _trouble(job, build, error)


def _contact(build: JenkinsBuild) -> None:
    build.last_contact_at = utcnow()
    build.unreachable_since = None


def _heartbeat(job: Job) -> None:
    if job.status == JobStatus.RUNNING:
        scheduler.transition(job, JobStatus.RUNNING, heartbeat_at=utcnow())


def _trouble(job: Job, build: JenkinsBuild, error: client.JenkinsError) -> None:
    """The controller did not answer as it should: refused credentials end the job; anything else
    is tried again until it has lasted TAIJI_CICD_RUNNER_LOST_SECONDS."""
    now = utcnow()
    patience = dt.timedelta(seconds=current_app.config["CICD_RUNNER_LOST_SECONDS"])
    if job.status in JOB_DONE or job.attempt != build.attempt:
        # Nobody waits for this build any more, but it should still be stopped: tried again at the
        # next polls, for as long as a running build would be.
        build.unreachable_since = build.unreachable_since or now
        if now - build.unreachable_since >= patience:
            build.done, build.held_sealed = True, None
        return
    if error.kind in (client.CREDENTIALS, client.REFUSED):
        fail(job, build, f"Job failed: {error}")
        return
    build.unreachable_since = build.unreachable_since or now
    _heartbeat(job)
    if now - build.unreachable_since >= patience:
        fail(
            job,
            build,
            f"Job failed: for {patience.seconds}s Taiji could not follow the Jenkins build: {error}",
            FailureReason.RUNNER_LOST,
        )


def _queue(server, job: Job, build: JenkinsBuild, output: _Log) -> bool:
    """Read the queue item; True once the build exists (the job is then running)."""
    item = server.get_queue_item(build.queue_id)
    if item.get("cancelled"):
        fail(
            job,
            build,
            "Job failed: the build was canceled on Jenkins while it waited in the queue",
            FailureReason.CANCELED,
        )
        return False
    executable = item.get("executable") or {}
    number = executable.get("number") if isinstance(executable, dict) else None
    if not isinstance(number, int):
        why = str(item.get("why") or "")[:500] or None
        if why and why != build.waiting_why:
            output.note(f"{CYAN}Waiting on Jenkins: {why}{RESET}\n")
            build.waiting_why = why
        return False
    build.number = number
    build.url = client.web_url(executable.get("url"))
    now = utcnow()
    if job.status == JobStatus.PENDING and scheduler.transition(
        job,
        JobStatus.PENDING,
        status=JobStatus.RUNNING.value,
        started_at=now,
        heartbeat_at=now,
        worker=f"jenkins:{build.controller_name}"[:255],
    ):
        scheduler.mark_started(job.pipeline)
    output.note(f"{CYAN}Jenkins build #{number} started{': ' + build.url if build.url else ''}{RESET}\n")
    return True


def _copy_log(server, build: JenkinsBuild, output: _Log, *, drain: bool) -> None:
    """Copy console text from the offset; ``drain``: until the controller says nothing more comes."""
    for _round in range(50 if drain else 1):
        path = f"{client.job_path(build.item)}{build.number}/logText/progressiveText?start={build.log_offset}"
        response = client.request(server, "GET", path, stream=True)
        data = response.raw.read(MAX_TEXT_BYTES + 1, decode_content=True)
        size = response.headers.get("X-Text-Size")
        more = response.headers.get("X-More-Data", "").lower() == "true"
        response.close()
        skipped = len(data) > MAX_TEXT_BYTES
        text = data[:MAX_TEXT_BYTES].decode("utf-8", errors="replace")
        if skipped:
            text += f"\n{RED}[Taiji skipped the rest of this piece of Jenkins output: over 8 MiB]{RESET}\n"
        next_offset = int(size) if size and size.isdigit() else build.log_offset + len(data)
        if text:
            output.add(text)
        moved = next_offset != build.log_offset
        build.log_offset = next_offset
        if not more and (not drain or not moved or not text):
            return
        if not moved:
            time.sleep(0.2)


def _build(server, job: Job, build: JenkinsBuild, output: _Log) -> None:
    _copy_log(server, build, output, drain=False)
    _heartbeat(job)
    config = current_app.config
    if job.log_size > config["CICD_OUTPUT_LIMIT_MB"] * 1024 * 1024:
        server.stop_build(build.item, build.number)
        output.note("\n")
        fail(
            job,
            build,
            "Job failed: its log passed the output limit and the Jenkins build was stopped",
            FailureReason.OUTPUT_LIMIT,
        )
        return
    timeout = int((job.spec or {}).get("timeout") or 1800)
    info = server.get_build_info(build.item, build.number)
    if info.get("building") or not info.get("result"):
        if job.started_at and utcnow() - job.started_at > dt.timedelta(seconds=timeout + 60):
            # An existing job has no timeout of ours in its Jenkinsfile; the job's timeout still holds.
            server.stop_build(build.item, build.number)
            output.note("\n")
            fail(
                job,
                build,
                f"Job failed: it ran longer than its timeout ({timeout}s) and the Jenkins build was stopped",
                FailureReason.TIMEOUT,
            )
        return
    _copy_log(server, build, output, drain=True)
    output.note("")
    result = str(info.get("result"))
    status, reason = RESULTS.get(result, (JobStatus.FAILED, FailureReason.SYSTEM))
    if result == "ABORTED" and (info.get("duration") or 0) >= timeout * 1000:
        reason = FailureReason.TIMEOUT
    junit = (
        results.junit(server, build)
        if (job.spec or {}).get("junit") or (job.spec or {}).get("jenkins")
        else None
    )
    if status == JobStatus.SUCCESS:
        problem = results.artifacts(server, job, build, info, output)
        if problem:
            status, reason = JobStatus.FAILED, FailureReason.SYSTEM
    message = _MESSAGES.get(result, f"Job failed: the Jenkins build ended {result}")
    if reason == FailureReason.TIMEOUT:
        message = f"Job failed: it ran longer than its timeout ({timeout}s) and Jenkins aborted it"
    colour = GREEN if status == JobStatus.SUCCESS else RED
    append_log(job, f"{colour}{message}{RESET}\n")
    build.result = result[:20]
    build.done = True
    build.held_sealed = None
    scheduler.finish_job(job, status, reason=reason, junit=junit, attempt=build.attempt)
