"""A small real participant service for the transaction engine's tests.

A Flask app served over HTTP on a free loopback port, with its own database (SQLite file or
PostgreSQL database) and the ``taiji.tx.barrier`` SDK. Every op is ``POST /<op>`` with Taiji's
query arguments; its business effect is a row in ``effects``, written in the barrier's local
transaction. Tests script how each (branch, op) answers:

- ``ok``: run through the barrier; 200 SUCCESS, or 409 FAILURE when the barrier refuses;
- ``fail``: 409 FAILURE, nothing done (a definite business refusal);
- ``error``: 503, nothing done (a transient error: the engine cannot know the outcome);
- ``hang``: apply the effect, then answer only after ``hang_seconds`` (past the engine's timeout);
- ``lost``: apply the effect, then answer 500 (the answer is lost, the effect is not);
- ``dirty_fail``: apply the effect, then answer 409 FAILURE (a refusal that left something behind);
- ``ongoing``: 200 ONGOING, nothing done.

Scripted answers are used in order; once used up, the op answers ``ok`` (or the ``always`` one).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from taiji.tx.barrier import Barrier, request_keys

BEHAVIOURS = {"ok", "fail", "error", "hang", "lost", "ongoing", "dirty_fail"}


@dataclass(frozen=True)
class Received:
    gid: str
    branch: str
    op: str
    attempt: int
    at: float  # time.monotonic()
    payload: dict


class Participant:
    def __init__(self, database_url: str, *, hang_seconds: float = 1.0):
        self.engine = sa.create_engine(database_url, pool_size=20, max_overflow=20) \
            if not database_url.startswith("sqlite") else sa.create_engine(database_url)
        self.metadata = sa.MetaData()
        self.barrier = Barrier(metadata=self.metadata)
        self.effects_table = sa.Table(
            "effects", self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("gid", sa.String(64), nullable=False),
            sa.Column("branch", sa.String(100), nullable=False),
            sa.Column("op", sa.String(16), nullable=False),
        )
        self.metadata.drop_all(self.engine)
        self.metadata.create_all(self.engine)
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._scripts: dict[tuple[str | None, str], deque[str]] = defaultdict(deque)
        self._always: dict[tuple[str | None, str], str] = {}
        self._release = threading.Event()
        self.received: list[Received] = []
        self.app = self._build_app()
        self._server = None
        self._thread = None

    # -- scripting ------------------------------------------------------------------------

    def script(self, branch: str | None, op: str, *answers: str) -> None:
        """Answer the next calls of (branch, op) with ``answers``; ``branch=None`` means any."""
        assert set(answers) <= BEHAVIOURS, answers
        with self._lock:
            self._scripts[(branch, op)].extend(answers)

    def always(self, branch: str | None, op: str, answer: str) -> None:
        assert answer in BEHAVIOURS
        with self._lock:
            self._always[(branch, op)] = answer

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._always.clear()
            self.received.clear()

    def _next_answer(self, branch: str, op: str) -> str:
        with self._lock:
            for key in ((branch, op), (None, op)):
                if self._scripts.get(key):
                    return self._scripts[key].popleft()
            return self._always.get((branch, op)) or self._always.get((None, op)) or "ok"

    # -- what happened ----------------------------------------------------------------------

    def effects(self, gid: str) -> list[tuple[str, str]]:
        """(branch, op) of every business effect applied for ``gid``, in order."""
        t = self.effects_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.branch, t.c.op).where(t.c.gid == gid).order_by(t.c.id))
            return [tuple(row) for row in rows]

    def calls(self, gid: str, op: str | None = None, branch: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.gid == gid and op in (None, r.op)
                    and branch in (None, r.branch)]

    # -- serving ----------------------------------------------------------------------------

    def url(self, op: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/{op}"

    def start(self) -> Participant:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.engine.dispose()

    def apply(self, gid: str, branch: str, op: str):
        """Run one op through the barrier in its own local transaction (also used by tests directly)."""
        with self.engine.connect() as conn, conn.begin():
            return self.barrier.run(conn, gid, branch, op, lambda: self._effect(conn, gid, branch, op))

    def _effect(self, conn, gid, branch, op) -> None:
        conn.execute(self.effects_table.insert().values(gid=gid, branch=branch, op=op))

    def local_transaction(self, mid: str, *, hold: threading.Event | None = None, fail: bool = False):
        """A business change that belongs to two-phase message ``mid`` (``taiji.tx.message``).

        ``hold``: wait for it after the change, inside the open local transaction; ``fail``:
        roll back at the end. Returns the barrier's outcome.
        """
        from taiji.tx.message import commit_with

        with self.engine.connect() as conn, conn.begin() as local:
            outcome = commit_with(self.barrier, conn, mid,
                                  lambda: self._effect(conn, mid, "message", "action"))
            if hold is not None:
                hold.wait(10)
            if fail or outcome.refused:
                local.rollback()
        return outcome

    def _build_app(self) -> Flask:
        app = Flask("participant")

        @app.post("/check")
        def check():
            from taiji.tx.message import check_back

            with self._lock:
                self.received.append(Received(request.args.get("mid", ""), "message", "check", 0,
                                              time.monotonic(), {}))
            with self.engine.connect() as conn, conn.begin():
                return jsonify(result=check_back(self.barrier, conn, request.args["mid"]))

        @app.post("/<op>")
        def handle(op):
            gid, branch, sent_op = request_keys(request.args)
            if sent_op != op:
                return jsonify(result="FAILURE", detail="op mismatch"), 400
            with self._lock:
                attempt = int(request.headers.get("Taiji-Tx-Attempt", 0))
                self.received.append(Received(gid, branch, op, attempt,
                                              time.monotonic(), request.get_json(silent=True) or {}))
            answer = self._next_answer(branch, op)
            if answer == "fail":
                return jsonify(result="FAILURE"), 409
            if answer == "error":
                return jsonify(result="ERROR"), 503
            if answer == "ongoing":
                return jsonify(result="ONGOING"), 200
            outcome = self.apply(gid, branch, op)
            if answer == "hang":
                self._release.wait(self.hang_seconds)
            if answer == "lost":
                return jsonify(result="ERROR"), 500
            if answer == "dirty_fail":
                return jsonify(result="FAILURE"), 409
            if outcome.refused:
                return jsonify(result="FAILURE", barrier=outcome.result.value), 409
            return jsonify(result="SUCCESS", barrier=outcome.result.value), 200

        return app
