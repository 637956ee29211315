"""CI benchmark: push → first line of a job's output, and ten pipelines pushed at once.

A scratch Taiji (its own database and data folder) is served by werkzeug's threaded server on
127.0.0.1 in this process; two real ``taiji worker`` subprocesses of 4 threads run event delivery
(queue ``taiji``) and jobs (queue ``cicd.builtin``). Pushes are made with the real ``git`` client over
HTTP, so each measurement covers: receive-pack and its hooks, the ``vcs.push`` outbox row, the
relay, CI's handler reading `.taiji.yml` and creating the pipeline, the ``cicd.run_job`` message,
the worker's checkout and fresh virtual environment, and the first log chunk's commit.

1. Latency: ``CICD_BENCH_PUSHES`` (50) pushes of one commit each, one after another; from starting
   ``git push`` until a poller on its own connection sees the job's output line in the log (p50, p99).
2. Throughput: 10 repositories pushed at the same moment, each pipeline one job that sleeps 1 s;
   total wall time until all ten finished, against the sum of the jobs' own run times (the tenant's
   default quota lets 4 jobs run at once).

Run ``python -m bench.cicd_bench``. ``TAIJI_BENCH_DATABASE_URL`` (default: a scratch PostgreSQL
database ``taiji_bench_cicd`` on 127.0.0.1, else SQLite) and ``TAIJI_BENCH_BROKER_URL`` (default:
Redis db 12 on 127.0.0.1 when it answers, else the filesystem broker) pick the servers.
"""

from __future__ import annotations

import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PUSHES = int(os.environ.get("CICD_BENCH_PUSHES", 50))
PARALLEL = 10
ROOT = Path(__file__).resolve().parent.parent
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


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


def _push(work: Path, n: int, marker_line: str | None = None) -> subprocess.Popen:
    (work / "n.txt").write_text(f"{n}\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", f"push {n}", cwd=work)
    return subprocess.Popen(
        ["git", "push", "-q", "origin", "HEAD:main"],
        cwd=work,
        env={"PATH": os.environ["PATH"], "HOME": str(work.parent), "GIT_TERMINAL_PROMPT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def latencies(app, url: str, tmp: Path) -> list[float]:
    from taiji.platform.db import db

    work = tmp / "latency"
    git("clone", "-q", f"{url}/git/bench/latency.git", str(work))
    out = []
    with app.app_context(), db.engine.connect() as conn:
        # Push -1 warms the server, the workers' broker connections and caches; it is not counted.
        for n in range(-1, PUSHES):
            marker = f"first-line-{n}"
            # Only the output says "out-<marker>"; the echoed command line does not.
            (work / ".taiji.yml").write_text(
                f"jobs:\n  hello:\n    script: [\"printf 'out-%s\\\\n' {marker}\"]\n"
            )
            started = time.perf_counter()
            proc = _push(work, n)
            while not _first_line_seen(conn, "latency", marker):
                conn.commit()
                if time.perf_counter() - started > 60:
                    raise SystemExit(f"push {n} produced no output line in 60 s (see {tmp})")
                time.sleep(0.005)
            conn.commit()
            if n >= 0:
                out.append(time.perf_counter() - started)
            proc.wait()
    return out


def throughput(app, url: str, tmp: Path) -> tuple[float, float, int]:
    import sqlalchemy as sa

    from taiji.modules.cicd.models import Job, Pipeline
    from taiji.platform.db import db

    works = []
    for n in range(PARALLEL):
        work = tmp / f"par{n}"
        git("clone", "-q", f"{url}/git/bench/par{n}.git", str(work))
        (work / ".taiji.yml").write_text("jobs:\n  work:\n    script: [sleep 1, echo done]\n")
        git("add", "-A", cwd=work)
        git("commit", "-qm", "pipeline", cwd=work)
        works.append(work)
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            ["git", "push", "-q", "origin", "HEAD:main"],
            cwd=w,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp), "GIT_TERMINAL_PROMPT": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for w in works
    ]
    names = [f"par{n}" for n in range(PARALLEL)]
    done_states = ("success", "failed", "canceled", "error")
    with app.app_context(), db.engine.connect() as conn:
        while True:
            finished = conn.execute(
                sa.select(sa.func.count())
                .select_from(Pipeline)
                .where(Pipeline.repository.in_(names), Pipeline.status.in_(done_states))
            ).scalar_one()
            conn.commit()
            if finished >= PARALLEL:
                break
            if time.perf_counter() - started > 300:
                raise SystemExit("the parallel pipelines did not finish in 300 s")
            time.sleep(0.01)
        wall = time.perf_counter() - started
        rows = conn.execute(
            sa.select(Job.started_at, Job.finished_at, Job.status)
            .join(Pipeline, Pipeline.id == Job.pipeline_id)
            .where(Pipeline.repository.in_(names))
        ).all()
    for proc in procs:
        proc.wait()
    own = sum((f - s).total_seconds() for s, f, _ in rows)
    return wall, own, sum(1 for *_, status in rows if status == "success")


def main() -> None:
    logging.disable(logging.INFO)
    from flask_migrate import upgrade

    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs
    from taiji.platform.app import create_app
    from taiji.platform.db import db

    tmp = Path(tempfile.mkdtemp(prefix="cicd-bench-"))
    database_url = _database_url(tmp)
    broker_url = _broker_url(tmp)
    data_dir = tmp / "data"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": "bench",
            "BROKER_URL": broker_url,
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        if not broker_url.startswith("filesystem"):
            app.extensions["celery"].control.purge()
        user = iam.create_user("bench@example.com", "Bench", "a-long-password-1")
        tenant = tm.create_tenant("bench", "Bench", owner_id=user.id)
        _, token = iam.create_token(user, "bench")
        for name in ["latency", *(f"par{n}" for n in range(PARALLEL))]:
            vcs.create_repository(tenant, {"name": name})
        db.session.commit()
        db.session.remove()
    server, base = serve(app)
    url = base.replace("http://", f"http://x:{token}@")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env.update(
        {
            "TAIJI_DATABASE_URL": database_url,
            "TAIJI_BROKER_URL": broker_url,
            "TAIJI_DATA_DIR": str(data_dir),
            "TAIJI_SECRET_KEY": "bench",
            "TAIJI_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    workers = []
    # Events and jobs on their own workers, as in production: running jobs never hold up the
    # delivery of the pushes that start the next pipelines.
    for name, queues in (("events", "taiji"), ("runner", "cicd.builtin")):
        log = (tmp / f"{name}.log").open("wb")
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "taiji.cli", "worker", "--concurrency", "4", "--queues", queues],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        time.sleep(3)  # the workers connect to the broker
        lat = latencies(app, url, tmp)
        wall, own, succeeded = throughput(app, url, tmp)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        server.shutdown()
    database = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    broker = broker_url.split(":", 1)[0]
    setup = f"built-in runner; {database}, broker {broker}, two `taiji worker`s of 4 threads: events, jobs"
    print(f"\n### CI ({setup})\n")
    print("| measure | value |")
    print("| --- | --- |")
    p50 = statistics.median(lat) * 1000
    print(f"| push → first line of the job's output, p50 ({len(lat)} pushes) | {p50:.0f} ms |")
    print(f"| push → first line of the job's output, p99 | {percentile(lat, 99) * 1000:.0f} ms |")
    print(f"| {PARALLEL} pipelines pushed at once: wall time until all finished | {wall:.2f} s |")
    print(f"| the same: sum of the jobs' own run times ({succeeded}/{PARALLEL} succeeded) | {own:.2f} s |")
    print(f"| the same: wall time / sum of run times (quota 4 jobs at once) | {wall / own:.2f} |")


if __name__ == "__main__":
    main()
