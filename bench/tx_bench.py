"""Transaction engine benchmark: two-step sagas per second on PostgreSQL, participants on loopback.

Two measurements over the same participant (a small threaded HTTP server on 127.0.0.1 that
answers every action with success):
  - direct: the two action calls made one after the other with a pooled HTTP client, no engine;
  - engine: a two-step saga submitted and run to its end in this process
    (``taiji.platform.tx.inline.submit_and_run``) — every call recorded as begun before it is
    made and as answered after it, in three commits per saga. Database round trips and commits
    are counted too: unlike rates, they do not depend on how busy the machine is.

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
import sqlalchemy as sa

SAGAS = int(os.environ.get("TX_BENCH_SAGAS", 300))
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


def _direct(base: str, n: int) -> float:
    with httpx.Client() as client:
        started = time.perf_counter()
        for i in range(n):
            for step in ("reserve", "charge"):
                client.post(f"{base}/{step}", params={"gid": f"d{i}", "branch": step, "op": "action"},
                            json={"step": step}).raise_for_status()
        return n / (time.perf_counter() - started)


def _engine(app, base: str, n: int) -> tuple[float, int, int, int]:
    from taiji.platform.db import db
    from taiji.platform.tx import inline

    steps = [{"name": s, "action": f"{base}/{s}", "compensate": f"{base}/{s}-undo", "payload": {"step": s}}
             for s in ("reserve", "charge")]
    run = uuid.uuid4().hex[:8]
    from taiji.platform.tx import state

    counts = {"statements": 0, "commits": 0}
    pipelined = state._write_pipelined

    def pipeline(*args):
        # On PostgreSQL a boundary's writes go out in one pipeline: one round trip, counted once.
        counts["statements"] += 1
        return pipelined(*args)

    def statement(*args):
        counts["statements"] += 1

    def commit(*args):
        counts["commits"] += 1

    with app.app_context():
        gids = []
        sa.event.listen(db.engine, "before_cursor_execute", statement)
        sa.event.listen(db.engine, "commit", commit)
        state._write_pipelined = pipeline
        started = time.perf_counter()
        for i in range(n):
            gid = f"bench-{run}-{i}"
            inline.submit_and_run("saga", steps, gid=gid)
            gids.append(gid)
        elapsed = time.perf_counter() - started
        sa.event.remove(db.engine, "before_cursor_execute", statement)
        sa.event.remove(db.engine, "commit", commit)
        state._write_pipelined = pipelined
        from taiji.platform.tx.models import Transaction

        done = db.session.scalar(sa.select(sa.func.count()).select_from(Transaction)
                                 .where(Transaction.gid.in_(gids), Transaction.state == "succeeded"))
        db.session.remove()
    return n / elapsed, done, counts["statements"], counts["commits"]


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
            _engine(app, base, 20)
            direct = _direct(base, sagas)
            engine_rate, done, statements, commits = _engine(app, base, sagas)
        finally:
            server.shutdown()
            server.server_close()
        rows = [
            ("database", sa.make_url(url).get_backend_name()),
            ("two-step sagas (succeeded)", f"{sagas} ({done})"),
            ("direct calls (pairs/s)", f"{direct:.0f}"),
            ("engine (sagas/s, one core)", f"{engine_rate:.0f}"),
            ("engine / direct", f"{engine_rate / direct:.0%}"),
            ("database round trips / commits per saga", f"{(statements + commits) / sagas:.1f} / "
                                                         f"{commits / sagas:.1f}"),
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
