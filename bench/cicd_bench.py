"""CI benchmark: the runners side by side — push → first line of a job's output, and a 20-job
pipeline's wall time, for `host`, `sandbox` and `docker` in one run.

A scratch Taiji (its own database and data folder) is served by werkzeug's threaded server on
127.0.0.1 in this process; a real ``taiji worker`` (events: the push reaches CI there) and a real
``taiji runner`` (the jobs) run beside it, started with ``TAIJI_CICD_RUNNER=<runner>`` for each
runner's turn. Pushes are made with the real ``git`` client over HTTP, so a measurement covers:
receive-pack and its hooks, the ``vcs.push`` outbox row, the relay, CI's handler reading
`.taiji.yml` and creating the pipeline, the scheduler, the ``cicd.run_job`` message, the runner's
checkout and the job's environment (a virtual environment, a sandbox, a container), and the first
log chunk's commit.

The runners take turns in rounds (``CICD_BENCH_ROUNDS``, default 3; the order rotates each round),
so that whatever else the machine does falls on all of them alike. In each turn:

1. Latency: ``CICD_BENCH_PUSHES`` (10) pushes of one commit each, one after another; from starting
   ``git push`` until a poller on its own connection sees the job's output line in the log.
   Reported over all rounds: p50 and p95.
2. A pipeline of 20 independent jobs (each prints a line and runs ``python3 -c``), pushed once; the
   wall time from the push until the pipeline finished. Reported: the median of the rounds.

A runner that cannot run here is shown as ``n/a`` with the reason: ``sandbox`` without ``bwrap``,
``docker`` without ``TAIJI_BENCH_DOCKER_HOST`` (the engine to use, e.g. ``unix:///run/taiji-docker.sock``;
the job image, ``TAIJI_CICD_DEFAULT_IMAGE``, must be there already: ``taiji images bootstrap``),
a build that does not know ``TAIJI_CICD_RUNNER``, or a first job that fails (its log's last line).

Run ``python -m bench.cicd_bench``. ``TAIJI_BENCH_DATABASE_URL`` (default: a scratch PostgreSQL
database ``taiji_bench_cicd`` on 127.0.0.1, else SQLite) and ``TAIJI_BENCH_BROKER_URL`` (default:
Redis db 12 on 127.0.0.1 when it answers, else the filesystem broker) pick the servers.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PUSHES = int(os.environ.get("CICD_BENCH_PUSHES", 10))
ROUNDS = int(os.environ.get("CICD_BENCH_ROUNDS", 3))
WIDE = 20
RUNNERS = ("host", "sandbox", "docker")
GOAL_SANDBOX = 1.2  # sandbox within 1.2x of host
GOAL_DOCKER_P95 = 1.5  # seconds, docker push -> first line
ROOT = Path(__file__).resolve().parent.parent
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
DONE = ("success", "failed", "canceled", "error")


def _database_url(tmp: Path) -> str:
    explicit = os.environ.get("TAIJI_BENCH_DATABASE_URL")
    if explicit:
        return explicit
    import sqlalchemy as sa

    url = "postgresql+psycopg://postgres@127.0.0.1:5432/taiji_bench_cicd"
    try:
        admin = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS "taiji_bench_cicd" WITH (FORCE)')
            conn.exec_driver_sql('CREATE DATABASE "taiji_bench_cicd"')
        admin.dispose()
        return url
    except Exception:
        return f"sqlite:///{tmp / 'taiji.db'}"


def _broker_url(tmp: Path) -> str:
    explicit = os.environ.get("TAIJI_BENCH_BROKER_URL")
    if explicit:
        return explicit
    from taiji.platform.tasks import broker_reachable

    url = "redis://127.0.0.1:6379/12"
    return url if broker_reachable(url, tmp) else "filesystem://"


def git(*args, cwd=None):
    return subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, check=True
    )


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def serve(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@dataclass
class Runner:
    name: str
    unavailable: str | None = None  # why it cannot run here
    first_lines: list[float] = field(default_factory=list)
    wide: list[float] = field(default_factory=list)


def _known_runner_setting() -> bool:
    from taiji.platform.app import ENABLED_MODULES
    from taiji.platform.config import all_settings

    return any(setting.name == "TAIJI_CICD_RUNNER" for setting in all_settings(ENABLED_MODULES))


def _availability(name: str) -> str | None:
    """Why ``name`` cannot run on this machine, or None."""
    if name != "host" and not _known_runner_setting():
        return "this build has no TAIJI_CICD_RUNNER setting (only the host runner)"
    if name == "sandbox" and shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    if name == "docker" and not os.environ.get("TAIJI_BENCH_DOCKER_HOST"):
        return "no Docker engine configured (set TAIJI_BENCH_DOCKER_HOST)"
    return None


class Install:
    """The scratch install: database, data folder, broker, the served app, the bench tenant."""

    def __init__(self, tmp: Path):
        from flask_migrate import upgrade

        from taiji.modules.iam import services as iam
        from taiji.modules.tm import services as tm
        from taiji.modules.vcs import services as vcs
        from taiji.platform.app import create_app
        from taiji.platform.db import db

        self.tmp = tmp
        self.database_url = _database_url(tmp)
        self.broker_url = _broker_url(tmp)
        self.data_dir = tmp / "data"
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": self.database_url, "DATA_DIR": str(self.data_dir),
                               "SECRET_KEY": "bench", "BROKER_URL": self.broker_url,
                               "LOG_LEVEL": "WARNING"})
        with self.app.app_context():
            upgrade(directory=str(ROOT / "taiji" / "migrations"))
            if not self.broker_url.startswith("filesystem"):
                self.app.extensions["celery"].control.purge()
            user = iam.create_user("bench@example.com", "Bench", "a-long-password-1")
            tenant = tm.create_tenant("bench", "Bench", owner_id=user.id)
            _, token = iam.create_token(user, "bench")
            for name in RUNNERS:
                vcs.create_repository(tenant, {"name": f"first-{name}"})
                vcs.create_repository(tenant, {"name": f"wide-{name}"})
            db.session.commit()
            db.session.remove()
        self.server, base = serve(self.app)
        self.url = base.replace("http://", f"http://x:{token}@")
        self.procs: list[subprocess.Popen] = []

    def env(self, runner: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
        env.update({
            "TAIJI_DATABASE_URL": self.database_url,
            "TAIJI_BROKER_URL": self.broker_url,
            "TAIJI_DATA_DIR": str(self.data_dir),
            "TAIJI_SECRET_KEY": "bench",
            "TAIJI_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        })
        if _known_runner_setting():
            env["TAIJI_CICD_RUNNER"] = runner
        if runner == "docker":
            env["TAIJI_DOCKER_HOST"] = os.environ["TAIJI_BENCH_DOCKER_HOST"]
        return env

    def start(self, runner: str) -> None:
        """A `taiji worker` and a `taiji runner` for this runner's turn (the pipeline's runner is
        chosen where the push's event is handled: in the worker)."""
        env = self.env(runner)
        if "TAIJI_CICD_RUNNER" in env:
            self.app.config["CICD_RUNNER"] = runner
        for command in ("worker", "runner"):
            log = (self.tmp / f"{runner}-{command}.log").open("ab")
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "taiji.cli", command], cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True))

    def stop(self) -> None:
        for proc in self.procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs = []

    def clone(self, repository: str) -> Path:
        work = self.tmp / repository
        if not work.exists():
            git("clone", "-q", f"{self.url}/git/bench/{repository}.git", str(work))
        return work


def _push(work: Path, files: dict[str, str]) -> subprocess.Popen:
    for name, text in files.items():
        (work / name).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "bench", "--allow-empty", cwd=work)
    return subprocess.Popen(
        ["git", "push", "-q", "origin", "HEAD:main"],
        cwd=work,
        env={"PATH": os.environ["PATH"], "HOME": str(work.parent), "GIT_TERMINAL_PROMPT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _latest_pipeline(conn, repository: str):
    import sqlalchemy as sa

    from taiji.modules.cicd.models import Pipeline

    return conn.execute(
        sa.select(Pipeline.id, Pipeline.status, Pipeline.error)
        .where(Pipeline.repository == repository)
        .order_by(Pipeline.id.desc())
        .limit(1)
    ).first()


def _log_text(conn, pipeline_id: int) -> str:
    import sqlalchemy as sa

    from taiji.modules.cicd.models import Job, LogChunk

    rows = conn.execute(
        sa.select(LogChunk.text)
        .join(Job, Job.id == LogChunk.job_id)
        .where(Job.pipeline_id == pipeline_id)
        .order_by(Job.id, LogChunk.seq)
    ).scalars()
    return "".join(rows)


def _first_line_seen(conn, repository: str, marker: str) -> bool:
    import sqlalchemy as sa

    from taiji.modules.cicd.models import Job, LogChunk, Pipeline

    stmt = (
        sa.select(sa.func.count())
        .select_from(LogChunk)
        .join(Job, Job.id == LogChunk.job_id)
        .join(Pipeline, Pipeline.id == Job.pipeline_id)
        .where(Pipeline.repository == repository, LogChunk.text.contains(f"out-{marker}"))
    )
    return conn.execute(stmt).scalar_one() > 0


def _wait_done(conn, repository: str, after: int | None, timeout: float):
    """The first pipeline of ``repository`` newer than ``after`` once it finished, or None."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        row = _latest_pipeline(conn, repository)
        conn.commit()
        if row is not None and row.id != after and row.status in DONE:
            return row
        time.sleep(0.01)
    return None


def check(install: Install, runner: Runner, conn) -> None:
    """One job first, not measured: it shows whether this runner runs here at all, and warms up."""
    import sqlalchemy as sa

    from taiji.modules.cicd.models import Job

    repository = f"first-{runner.name}"
    before = _latest_pipeline(conn, repository)
    work = install.clone(repository)
    proc = _push(work, {".taiji.yml": "jobs:\n  probe:\n    script: [readlink /proc/self/ns/pid]\n"})
    proc.wait()
    row = _wait_done(conn, repository, before.id if before else None, timeout=300)
    if row is None:
        runner.unavailable = "its first job did not finish within 300 s"
        return
    text = _log_text(conn, row.id)
    conn.commit()
    if row.status != "success":
        last = [line for line in text.splitlines() if line.strip()][-1:] or [row.error or row.status]
        runner.unavailable = f"its first job failed: {last[0][:160]}"
        return
    kind = conn.execute(sa.select(Job.runner).where(Job.pipeline_id == row.id)).scalar_one()
    conn.commit()
    host_namespace = os.readlink("/proc/self/ns/pid")
    if runner.name != "host" and (kind != runner.name or host_namespace in text):
        runner.unavailable = f"the job ran on runner {kind!r}, in the host's processes: not {runner.name}"


def latencies(install: Install, runner: Runner, conn, round_no: int) -> None:
    repository = f"first-{runner.name}"
    work = install.clone(repository)
    for n in range(PUSHES):
        marker = f"r{round_no}-{n}"
        # Only the output says "out-<marker>"; the echoed command line does not.
        started = time.perf_counter()
        pipeline = f"jobs:\n  hello:\n    script: [\"printf 'out-%s\\\\n' {marker}\"]\n"
        proc = _push(work, {".taiji.yml": pipeline})
        while not _first_line_seen(conn, repository, marker):
            conn.commit()
            if time.perf_counter() - started > 120:
                row = _wait_done(conn, repository, None, timeout=1)
                why = _failure(conn, row.id) if row is not None else f"see {install.tmp}"
                runner.unavailable = f"push {marker} produced no output line in 120 s ({why})"
                proc.wait()
                return
            time.sleep(0.005)
        conn.commit()
        runner.first_lines.append(time.perf_counter() - started)
        proc.wait()
        # The next push only once this pipeline is over: pushes measure latency, not a queue.
        _wait_done(conn, repository, None, timeout=120)


def wide(install: Install, runner: Runner, conn, round_no: int) -> None:
    repository = f"wide-{runner.name}"
    before = _latest_pipeline(conn, repository)
    work = install.clone(repository)
    jobs = "".join(
        f"  job{n}:\n    script: [echo job {n}, \"python3 -c 'print(sum(range(100000)))'\"]\n"
        for n in range(WIDE)
    )
    started = time.perf_counter()
    proc = _push(work, {".taiji.yml": "jobs:\n" + jobs, "round.txt": f"{round_no}\n"})
    row = _wait_done(conn, repository, before.id if before else None, timeout=900)
    proc.wait()
    if row is None:
        runner.unavailable = f"the {WIDE}-job pipeline did not finish within 900 s (see {install.tmp})"
    elif row.status != "success":
        runner.unavailable = f"the {WIDE}-job pipeline failed: {_failure(conn, row.id)}"
    else:
        runner.wide.append(time.perf_counter() - started)


def _failure(conn, pipeline_id: int) -> str:
    """The first failed job of the pipeline and the last red line of its log (the runner's reason)."""
    import sqlalchemy as sa

    from taiji.modules.cicd.models import Job, LogChunk

    job = conn.execute(
        sa.select(Job.id, Job.name, Job.failure_reason)
        .where(Job.pipeline_id == pipeline_id, Job.status == "failed")
        .order_by(Job.id)
        .limit(1)
    ).first()
    if job is None:
        conn.commit()
        return "no job failed"
    text = "".join(conn.execute(sa.select(LogChunk.text).where(LogChunk.job_id == job.id)
                                .order_by(LogChunk.seq)).scalars())
    conn.commit()
    red = [line for line in text.splitlines() if "\x1b[31m" in line]
    reason = red[0].replace("\x1b[31m", "").replace("\x1b[0m", "").strip() if red else job.failure_reason
    return f"job {job.name} ({job.failure_reason}): {reason[:200]}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def report(runners: list[Runner], install: Install) -> None:
    database = "PostgreSQL" if install.database_url.startswith("postgresql") else "SQLite"
    broker = install.broker_url.split(":", 1)[0]
    cap = install.app.config["CICD_MAX_JOBS"]
    setup = (f"{database}, broker {broker}; a `taiji worker` and a `taiji runner`; {ROUNDS} alternating "
             f"rounds; TAIJI_CICD_MAX_JOBS {cap}, the tenant's quota 4 jobs at once")
    print(f"\n### CI runners ({setup})\n")
    print("| measure | " + " | ".join(r.name for r in runners) + " |")
    print("| --- |" + " --- |" * len(runners))

    def row(label, value):
        cells = [("n/a" if r.unavailable or not r.first_lines else value(r)) for r in runners]
        print(f"| {label} | " + " | ".join(cells) + " |")

    pushes = max((len(r.first_lines) for r in runners), default=0)
    row(f"push → first line of the job's output, p50 ({pushes} pushes)",
        lambda r: _ms(statistics.median(r.first_lines)))
    row("push → first line of the job's output, p95", lambda r: _ms(percentile(r.first_lines, 95)))
    row(f"{WIDE}-job pipeline: push → finished (median of {ROUNDS})",
        lambda r: f"{statistics.median(r.wide):.1f} s")
    host = next((r for r in runners if r.name == "host" and not r.unavailable and r.wide), None)
    if host is not None:
        row(f"{WIDE}-job pipeline against host",
            lambda r: f"{statistics.median(r.wide) / statistics.median(host.wide):.2f}x")
    print()
    for runner in runners:
        if runner.unavailable:
            print(f"- {runner.name}: n/a — {runner.unavailable}")
    sandbox = next((r for r in runners if r.name == "sandbox" and not r.unavailable and r.wide), None)
    if host and sandbox:
        ratio = max(statistics.median(sandbox.wide) / statistics.median(host.wide),
                    statistics.median(sandbox.first_lines) / statistics.median(host.first_lines))
        verdict = "met" if ratio <= GOAL_SANDBOX else "not met"
        print(f"- goal: sandbox within {GOAL_SANDBOX}x of host (first line p50 and {WIDE}-job pipeline): "
              f"{ratio:.2f}x, {verdict}")
    docker = next((r for r in runners if r.name == "docker" and not r.unavailable and r.first_lines), None)
    if docker:
        p95 = percentile(docker.first_lines, 95)
        verdict = "met" if p95 < GOAL_DOCKER_P95 else "not met"
        print(f"- goal: docker first line p95 < {GOAL_DOCKER_P95} s: {p95:.2f} s, {verdict}")


def main() -> None:
    logging.disable(logging.INFO)
    from taiji.platform.db import db

    tmp = Path(tempfile.mkdtemp(prefix="cicd-bench-"))
    install = Install(tmp)
    runners = [Runner(name, _availability(name)) for name in RUNNERS]
    try:
        with install.app.app_context(), db.engine.connect() as conn:
            for round_no in range(ROUNDS):
                turn = [r for r in runners if not r.unavailable]
                turn = turn[round_no % len(turn):] + turn[:round_no % len(turn)] if turn else []
                for runner in turn:
                    install.start(runner.name)
                    try:
                        # Also the turn's warm-up: the fresh processes connect, caches fill.
                        check(install, runner, conn)
                        if runner.unavailable:
                            continue
                        latencies(install, runner, conn, round_no)
                        if not runner.unavailable:
                            wide(install, runner, conn, round_no)
                    finally:
                        install.stop()
    finally:
        install.stop()
        install.server.shutdown()
    report(runners, install)


if __name__ == "__main__":
    main()
