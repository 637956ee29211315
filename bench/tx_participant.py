"""The transaction benchmark's participants: a small HTTP service in a process of its own.

Run ``python -m bench.tx_participant <database URL>``; it prints its port on the first line of
standard output and serves until standard input closes. Every path answers ``POST`` with
``{"result": "SUCCESS"}``; the first path segment says what the participant does first:

- ``/noop/<step>``: nothing — the cost of the call alone;
- ``/sql/<step>``: its business change in a local transaction of its own database — an
  ``UPDATE`` of an account's balance and an ``INSERT`` into a journal, committed (two SQL
  statements, as in DTM's "2 SQL" benchmark);
- ``/barrier/<step>``: the same change behind the insert-first barrier of ``taiji.tx.barrier``
  (three statements: the barrier row, then the change), as a real participant of sagas does.

Each connection is served by a thread (the standard library's threading server) with a
database connection of its own, kept for the connection's life.
"""

from __future__ import annotations

import json
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from taiji.tx.barrier import Barrier, request_keys

ACCOUNTS = 1000  # rows 0..999 (SCHEMA); the balance updated is picked by the transaction id
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS bench_account (id integer PRIMARY KEY, balance bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bench_journal (id bigserial PRIMARY KEY, gid varchar(64) NOT NULL, "
    "step varchar(32) NOT NULL, amount integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
    "INSERT INTO bench_account SELECT g, 0 FROM generate_series(0, 999) AS g ON CONFLICT DO NOTHING",
]
_UPDATE = "UPDATE bench_account SET balance = balance + %s WHERE id = %s"
_INSERT = "INSERT INTO bench_journal (gid, step, amount) VALUES (%s, %s, %s)"
_SUCCESS = json.dumps({"result": "SUCCESS"}).encode()


class _State:
    dsn: str = ""
    engine: sa.Engine | None = None
    barrier = Barrier("bench_barrier")
    local = threading.local()


def _account(gid: str) -> int:
    return zlib.crc32(gid.encode()) % ACCOUNTS


def _sql_change(gid: str, step: str) -> None:
    conn = getattr(_State.local, "conn", None)
    if conn is None or conn.closed:
        conn = _State.local.conn = psycopg.connect(_State.dsn)
    with conn.transaction():
        conn.execute(_UPDATE, (1, _account(gid)))
        conn.execute(_INSERT, (gid, step, 1))


def _barrier_change(gid: str, branch: str, op: str) -> bool:
    with Session(_State.engine) as session, session.begin():
        def change():
            session.execute(sa.text("UPDATE bench_account SET balance = balance + 1 WHERE id = :id"),
                            {"id": _account(gid)})
            session.execute(sa.text("INSERT INTO bench_journal (gid, step, amount) VALUES (:g, :s, 1)"),
                            {"g": gid, "s": branch})
        return _State.barrier.run(session, gid, branch, op, change).ok


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real service behind a pooled client
    disable_nagle_algorithm = True  # headers and body go out in two writes; no delayed-ACK stall

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path)
        mode, _, step = parts.path.strip("/").partition("/")
        ok = True
        if mode in ("sql", "barrier"):
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            gid, branch, op = request_keys(query)
            if mode == "sql":
                _sql_change(gid, step)
            else:
                ok = _barrier_change(gid, branch, op)
        body = _SUCCESS if ok else json.dumps({"result": "FAILURE"}).encode()
        self.send_response(200 if ok else 409)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def prepare(url: str) -> None:
    """Create the participant's tables (and the barrier's) in its database."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in SCHEMA:
            conn.execute(sa.text(statement))
    _State.barrier.create_table(engine)
    engine.dispose()


def main(argv: list[str]) -> int:
    url = argv[1]
    prepare(url)
    _State.engine = sa.create_engine(url, pool_size=16)
    _State.dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the benchmark closes our standard input
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
