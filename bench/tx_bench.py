"""Transaction engine benchmark: two-step sagas per second on PostgreSQL, participants on loopback.

Three measurements over the same participant (a small threaded HTTP server on 127.0.0.1 that
answers every action with success):
  - direct: the two action calls made one after the other with a pooled httpx client, no
    engine; and the same through the engine's own HTTP client (``protocol.call``, the standard
    library's keep-alive client), so the ratio can be read against either;
  - engine: a two-step saga submitted and run to its end in this process
    (``taiji.platform.tx.inline.submit_and_run``) — every call recorded as begun before it is
    made and as answered after it, in three commits per saga. Database round trips and commits
    are counted too, and CPU time per saga: unlike rates, they barely depend on how busy the
    machine is. CPU time is this process's, so it includes the participant's thread.

Both run in one thread, so "per second" is per core for the caller (the participant's own
thread takes some of the same machine). Prints both figures and their ratio; the issue's goal
is at least 250 sagas/s and at least 50% of the direct baseline. Then ``bench.tx_latency``
measures redo-to-alert latency and notification scheduling accuracy through a real worker
(``TX_BENCH_LATENCY=0`` skips them). One markdown table is printed.

Run ``python -m bench.tx_bench`` (or call ``run()``, which returns the rows). The database is
``TAIJI_BENCH_DATABASE_URL`` or a scratch PostgreSQL database ``taiji_bench_tx`` on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import sqlalchemy as sa

SAGAS = int(os.environ.get("TX_BENCH_SAGAS", 300))
THREADS = int(os.environ.get("TX_BENCH_THREADS", 4))
IDLE = psycopg.pq.TransactionStatus.IDLE
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/taiji_bench_tx"


class _Participant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real service behind a pooled client
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"result": "SUCCESS"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _ensure_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    name = sa.make_url(url).database
    admin = sa.create_engine(sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _app(url: str, workdir: Path):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(workdir), "SECRET_KEY": "bench",
                      "BROKER_URL": "memory://", "RATELIMIT_ENABLED": False,
                      "RATELIMIT_STORAGE_URI": "memory://", "TESTING": True})
    with app.app_context():
        upgrade(directory=str(Path(app.root_path) / "migrations"))
    return app


def _direct(base: str, n: int) -> tuple[float, float]:
    """The calls without the engine, through a pooled httpx client: pairs/s and CPU ms per pair."""
    with httpx.Client() as client:
        cpu, started = time.process_time(), time.perf_counter()
        for i in range(n):
            for step in ("reserve", "charge"):
                client.post(f"{base}/{step}", params={"gid": f"d{i}", "branch": step, "op": "action"},
                            json={"step": step}).raise_for_status()
        return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n


def _direct_stdlib(base: str, n: int) -> tuple[float, float]:
    """The same through the client the engine uses (the standard library's, kept alive)."""
    from taiji.platform.tx import protocol

    cpu, started = time.process_time(), time.perf_counter()
    for i in range(n):
        for step in ("reserve", "charge"):
            answer = protocol.call(f"{base}/{step}", gid=f"d{i}", branch=step, op="action", kind="saga",
                                   payload={"step": step}, attempt=1, timeout=10.0)
            assert answer.result == "OK", answer
    return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n


def _engine(app, base: str, n: int) -> tuple[float, float, int, float, float]:
    """Rate, CPU ms per saga, sagas succeeded, database round trips and commits per saga."""
    from taiji.platform.db import db
    from taiji.platform.tx import inline, services, state

    steps = [{"name": s, "action": f"{base}/{s}", "compensate": f"{base}/{s}-undo", "payload": {"step": s}}
             for s in ("reserve", "charge")]
    run = uuid.uuid4().hex[:8]
    counts = {"round_trips": 0, "commits": 0}
    pipelined, insert_owned = state._write_pipelined, services.insert_owned

    # Round trips are counted where they happen: a pipeline is one (its COMMIT included), a
    # statement outside one is one, a pool check-out is one (its pre-ping), and a COMMIT is one
    # unless the pipeline has sent it already (then the session's commit sends nothing).
    def pipeline(raw, w, commit=False):
        counts["round_trips"] += 1
        result = pipelined(raw, w, commit)
        counts["commits"] += result[2]
        return result

    def insert(*args):
        counts["round_trips"] += 1
        result = insert_owned(*args)
        counts["commits"] += bool(result and result[3])  # the submit committed on its own
        return result

    def statement(*args):
        counts["round_trips"] += 1

    def checkout(*args):
        counts["round_trips"] += 1

    def commit(conn):
        raw = conn.connection.driver_connection
        if not isinstance(raw, psycopg.Connection) or raw.info.transaction_status != IDLE:
            counts["round_trips"] += 1
            counts["commits"] += 1

    with app.app_context():
        listeners = [(db.engine, "before_cursor_execute", statement), (db.engine, "commit", commit),
                     (db.engine.pool, "checkout", checkout)]
        gids = []
        for target, name, fn in listeners:
            sa.event.listen(target, name, fn)
        state._write_pipelined, services.insert_owned = pipeline, insert
        cpu, started = time.process_time(), time.perf_counter()
        try:
            for i in range(n):
                gid = f"bench-{run}-{i}"
                inline.submit_and_run("saga", steps, gid=gid)
                gids.append(gid)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            for target, name, fn in listeners:
                sa.event.remove(target, name, fn)
            state._write_pipelined, services.insert_owned = pipelined, insert_owned
        from taiji.platform.tx.models import Transaction

        done = db.session.scalar(sa.select(sa.func.count()).select_from(Transaction)
                                 .where(Transaction.gid.in_(gids), Transaction.state == "succeeded"))
        db.session.remove()
    return n / elapsed, cpu * 1000 / n, done, counts["round_trips"] / n, counts["commits"] / n


def _concurrent(app, base: str, n: int, threads: int) -> tuple[float, float, int]:
    """Sagas run by ``threads`` threads of this process at once: while one waits for the
    database or a participant, another uses the core. Rate, CPU ms per saga, sagas succeeded."""
    from taiji.platform.db import db
    from taiji.platform.tx import inline
    from taiji.platform.tx.models import Transaction

    steps = [{"name": s, "action": f"{base}/{s}", "compensate": f"{base}/{s}-undo", "payload": {"step": s}}
             for s in ("reserve", "charge")]
    run = uuid.uuid4().hex[:8]
    gids = [[f"bench-{run}-{t}-{i}" for i in range(n // threads)] for t in range(threads)]

    def work(mine: list[str]) -> None:
        with app.app_context():
            for gid in mine:
                inline.submit_and_run("saga", steps, gid=gid)
            db.session.remove()

    workers = [threading.Thread(target=work, args=(mine,)) for mine in gids]
    cpu, started = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    total = sum(len(mine) for mine in gids)
    with app.app_context():
        done = db.session.scalar(sa.select(sa.func.count()).select_from(Transaction).where(
            Transaction.gid.like(f"bench-{run}-%"), Transaction.state == "succeeded"))
        db.session.remove()
    return total / elapsed, cpu * 1000 / total, done


def _backend_cpu(url: str) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends of the bench's database (from /proc,
    so only when the server runs on this machine); None when they cannot be read."""
    if not url.startswith("postgresql"):
        return None
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            pids = conn.scalars(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND pid <> pg_backend_pid()")).all()
        total = 0.0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError, sa.exc.SQLAlchemyError):
        return None
    finally:
        engine.dispose()


def run(sagas: int = SAGAS, latency: bool = True) -> list[tuple[str, str]]:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one log line per call would be the bottleneck
    url = os.environ.get("TAIJI_BENCH_DATABASE_URL") or DEFAULT_URL
    _ensure_database(url)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Participant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as workdir:
        try:
            app = _app(url, Path(workdir))
            _direct(base, 50)  # warm-up: connections, imports
            _direct_stdlib(base, 50)
            _engine(app, base, 20)
            direct, direct_cpu = _direct(base, sagas)
            stdlib, stdlib_cpu = _direct_stdlib(base, sagas)
            backend = _backend_cpu(url)
            rate, cpu, done, round_trips, commits = _engine(app, base, sagas)
            backend_after = _backend_cpu(url)
            threaded, threaded_cpu, threaded_done = _concurrent(app, base, sagas, THREADS)
        finally:
            server.shutdown()
            server.server_close()
        rows = [
            ("database", sa.make_url(url).get_backend_name()),
            ("two-step sagas (succeeded)", f"{sagas} ({done})"),
            ("direct calls, httpx (pairs/s; CPU ms per pair)", f"{direct:.0f}; {direct_cpu:.2f}"),
            ("direct calls, the engine's client (pairs/s; CPU ms per pair)",
             f"{stdlib:.0f}; {stdlib_cpu:.2f}"),
            ("engine (sagas/s, one core; CPU ms per saga)", f"{rate:.0f}; {cpu:.2f}"),
            ("engine / direct (httpx; engine's client)", f"{rate / direct:.0%}; {rate / stdlib:.0%}"),
            ("PostgreSQL backend CPU ms per saga", "not measured" if backend is None or backend_after is None
             else f"{(backend_after - backend) * 1000 / sagas:.2f}"),
            (f"engine, {THREADS} threads (sagas/s; CPU ms per saga; succeeded)",
             f"{threaded:.0f}; {threaded_cpu:.2f}; {threaded_done}"),
            ("database round trips / commits per saga", f"{round_trips:.1f} / {commits:.1f}"),
            ("goal", ">= 250 sagas/s and >= 50% of direct"),
        ]
        if latency:
            from bench import tx_latency

            try:
                rows += tx_latency.run(app, url, Path(workdir))
            except Exception as exc:  # no broker here: the throughput figures still stand
                rows.append(("redo-to-alert latency, notification lateness", f"not measured: {exc}"[:200]))
    return rows


def main() -> int:
    rows = run(latency=os.environ.get("TX_BENCH_LATENCY", "1") != "0")
    print("Transaction engine (TJDTH)\n")
    print("| measure | value |")
    print("| --- | --- |")
    for key, value in rows:
        print(f"| {key} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
