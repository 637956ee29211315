"""`make bench`, live updates: 500 open event streams against one `taiji web`, and the API beside them.

Serves Taiji with `taiji web` (gunicorn, 2 workers, as shipped) on loopback, opens STREAMS server-sent
event streams on a job's log (each a connection held by this process, read and discarded), and loads
an authenticated API read (a tenant's member list) and /healthz for a fixed time each, first with no
stream open and then with all of them open, side by side. Then one log line is written and the bench
counts how many streams received it. Prints a table, also written to bench/results/live.md.

Everything stays on 127.0.0.1; every load and every wait is bounded in time.

    python -m bench.live_bench [--streams 500] [--seconds 10] [--database-url URL] [--redis-url URL]

Without --database-url a SQLite file in a temporary folder is used; without --redis-url (or
TAIJI_REDIS_URL) the embedded install's polling stands in for Redis pub/sub.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402
from bench.run import Server, free_port, render, taiji  # noqa: E402

PASSWORD = "bench-password-long-enough"  # noqa: S105 - a throwaway install on loopback


class Streams:
    """``count`` event streams held open on one socket each, read on one thread."""

    def __init__(self, base: str, path: str, token: str, count: int):
        host, port = base.removeprefix("http://").split(":")
        self.selector = selectors.DefaultSelector()
        self.socks: list[socket.socket] = []
        self.seen: dict[socket.socket, bytes] = {}
        self.refused = 0
        self.closed = 0
        self._stop = threading.Event()
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                   f"Authorization: Bearer {token}\r\n\r\n").encode()
        for _ in range(count):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(request)
            sock.setblocking(False)
            self.socks.append(sock)
            self.seen[sock] = b""
            self.selector.register(sock, selectors.EVENT_READ)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.selector.select(timeout=0.5):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                with self.lock:
                    if not data:
                        self.selector.unregister(sock)
                        self.closed += 1
                        continue
                    before = self.seen[sock]
                    if not before and not data.startswith(b"HTTP/1.1 200"):
                        self.refused += 1
                    self.seen[sock] = (before + data)[-8192:] if before else data[:8192]

    def count(self, needle: bytes) -> int:
        with self.lock:
            return sum(needle in seen for seen in self.seen.values())

    def wait_for(self, needle: bytes, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.count(needle) < len(self.socks) - self.refused:
            time.sleep(0.2)
        return self.count(needle)

    def clear(self) -> None:
        with self.lock:
            for sock in self.seen:
                self.seen[sock] = self.seen[sock][:1] if self.seen[sock] else b""

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.close()


def seed(env: dict) -> tuple[str, int]:
    """A user, a tenant, and a job that waits (manual): returns (token, job id)."""
    os.environ.update(env)
    from taiji.modules.cicd.models import Job, JobStatus, Pipeline, PipelineStatus
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.app import create_app
    from taiji.platform.db import db

    app = create_app()
    with app.app_context():
        owner = iam.create_user("owner@bench.example", "Owner", PASSWORD, email_verified=True)
        db.session.flush()
        tenant = tm.create_tenant("bench", "Bench", owner_id=owner.id)
        pipeline = Pipeline(tenant_id=tenant.id, repository="bench", number=1, ref="refs/heads/main",
                            sha="0" * 40, trigger="manual", status=PipelineStatus.RUNNING.value)
        db.session.add(pipeline)
        db.session.flush()
        job = Job(tenant_id=tenant.id, pipeline_id=pipeline.id, name="deploy", when="manual",
                  status=JobStatus.MANUAL.value)
        db.session.add(job)
        db.session.flush()
        token = iam.create_token(owner, "bench")[1]
        job_id = job.id
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return token, job_id


def write_line(env: dict, job_id: int, text: str) -> None:
    from taiji.modules.cicd.models import Job
    from taiji.modules.cicd.services import append_log
    from taiji.platform.app import create_app
    from taiji.platform.db import db

    app = create_app()
    with app.app_context():
        append_log(db.session.get(Job, job_id), text)
        db.session.commit()
        db.engine.dispose()


def server_footprint(server: Server) -> tuple[float, int]:
    """Resident memory (MiB) and threads of the gunicorn master and its workers."""
    try:
        master = psutil.Process(server._proc.pid)
        procs = [master, *master.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 2**20, sum(p.num_threads() for p in procs)
    except psutil.Error:
        return float("nan"), 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", default=os.environ.get("TAIJI_BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("TAIJI_REDIS_URL", ""))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="taiji-live-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env.update({
        "TAIJI_DATA_DIR": str(work / "data"), "TAIJI_PORT": str(port), "TAIJI_LOG_LEVEL": "WARNING",
        "TAIJI_DATABASE_URL": args.database_url or f"sqlite:///{work / 'taiji.db'}",
        "TAIJI_REDIS_URL": args.redis_url, "TAIJI_ADMIN_PASSWORD": PASSWORD,
        "TAIJI_LIVE_MAX_STREAMS_PER_USER": str(args.streams + 100),
        "TAIJI_LOGIN_RATE_LIMIT": "100000 per minute", "PYTHONPATH": str(ROOT),
    })
    if args.database_url.startswith("postgresql"):
        from bench.run import sibling_database

        env["TAIJI_DATABASE_URL"] = sibling_database(args.database_url, "live", work)
    taiji("db", "upgrade", env=env)
    token, job_id = seed(env)
    server = Server(env, port, work / "web.log")
    rows = []
    try:
        server.wait_ready()
        auth = {"Authorization": f"Bearer {token}"}
        targets = [("GET members (token)", f"{server.url}/api/v1/tenants/bench/members", auth),
                   ("GET /healthz", f"{server.url}/healthz", {})]
        for _name, url, headers in targets:  # warm-up: connections, caches, the first requests' imports
            load.get_load(url, headers, 3, args.connections)
        before = {name: load.get_load(url, headers, args.seconds, args.connections)
                  for name, url, headers in targets}
        idle_rss, idle_threads = server_footprint(server)

        opened = time.monotonic()
        streams = Streams(server.url, f"/t/bench/jobs/{job_id}/live", token, args.streams)
        got_state = streams.wait_for(b"event: state", timeout=120)
        open_seconds = time.monotonic() - opened
        during = {name: load.get_load(url, headers, args.seconds, args.connections)
                  for name, url, headers in targets}
        rss, threads = server_footprint(server)
        streams.clear()
        sent = time.monotonic()
        write_line(env, job_id, "hello, watchers\n")
        reached = streams.wait_for(b"hello, watchers", timeout=30)
        fan_out = time.monotonic() - sent
        alive = len(streams.socks) - streams.closed
        refused = streams.refused
        streams.close()
    finally:
        server.stop()

    for name, _url, _headers in targets:
        a, b = before[name], during[name]
        rows.append([name, f"{a.rps:,.0f}", f"{b.rps:,.0f}", f"{b.rps / a.rps:.0%}" if a.rps else "-",
                     f"{a.p99_ms:.1f} / {b.p99_ms:.1f}", str(a.errors + b.errors)])
    header = [f"load ({args.connections} connections, {args.seconds} s)", "req/s, no stream",
              f"req/s, {args.streams} streams", "ratio", "p99 ms (no / with)", "non-2xx"]
    table = render([], rows, header)
    backend = "Redis pub/sub" if args.redis_url else "embedded (database polling)"
    database = "PostgreSQL" if env["TAIJI_DATABASE_URL"].startswith("postgresql") else "SQLite"
    facts = (f"\nStreams: {args.streams} opened in {open_seconds:.1f} s, {got_state} got their first event, "
             f"{refused} refused, {alive} still open at the end; one log line reached {reached} of them "
             f"in {fan_out:.2f} s ({backend}, {database}).\n"
             f"Server (master + 2 workers): {idle_rss:.0f} MiB / {idle_threads} threads with no stream, "
             f"{rss:.0f} MiB / {threads} threads with {args.streams}.\n")
    out = "## Live updates: API beside open event streams\n\n" + table + "\n" + facts
    print(out)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "live.md").write_text(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
