"""The engine's hot path: submit-and-run in the submitting process, the work per saga kept to
three commits, a crash right after the submit, and a stale engine that must not overwrite an
operator's decision (issue 7: throughput without giving up correctness tests 13 and 15)."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
import sqlalchemy as sa

from taiji.platform.db import db, utcnow
from taiji.platform.tx import engine, inline, services
from taiji.platform.tx.models import OK, RUNNING, STOPPED, SUCCEEDED, UNKNOWN

from .conftest import FAST, drive, saga_steps


def _gid() -> str:
    return f"fast-{uuid.uuid4().hex[:12]}"


class _Statements:
    """Counts the SQL statements the engine sends, and the commits (savepoint releases in tests)."""

    def __init__(self):
        self.statements: list[str] = []

    def __enter__(self):
        sa.event.listen(db.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        sa.event.remove(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args):
        self.statements.append(statement.strip().split()[0].upper() + " " + statement.strip()[:60])

    @property
    def commits(self) -> int:
        return sum(1 for s in self.statements if s.startswith("RELEASE"))

    @property
    def work(self) -> list[str]:
        return [s for s in self.statements if not s.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))]


def test_submit_and_run_finishes_a_saga_in_three_commits(participant):
    gid = _gid()
    with _Statements() as seen:
        progress = inline.submit_and_run("saga", saga_steps(participant, "reserve", "charge"), gid=gid,
                                         options=FAST)

    assert progress.state == SUCCEEDED
    assert participant.effects(gid) == [("reserve", "action"), ("charge", "action")]
    tx = engine.load(gid)
    assert [(c.branch_name, c.result) for c in services.timeline(tx)] == [("reserve", OK), ("charge", OK)]
    assert tx.owner is None and tx.lease_until is None and tx.finished_at is not None
    # Submit + first call begun; first answer + second call begun; second answer + the end.
    assert seen.commits == 3, seen.statements
    # Submit: on SQLite 1 look-up + 1 insert per row + the first call; on PostgreSQL a single
    # statement (raw psycopg: not seen here). Then 4 statements per answer and next call on
    # SQLite, 3 for the last answer; one statement per boundary on PostgreSQL.
    assert len(seen.work) <= 12, seen.work


def test_a_saga_submitted_again_with_the_same_gid_is_run_once(participant):
    gid = _gid()
    steps = saga_steps(participant, "reserve")
    assert inline.submit_and_run("saga", steps, gid=gid, options=FAST).state == SUCCEEDED
    assert inline.submit_and_run("saga", steps, gid=gid, options=FAST) is None  # finished: nothing to run
    assert participant.effects(gid) == [("reserve", "action")]


def test_process_dying_right_after_the_submit_leaves_a_saga_any_engine_finishes(participant):
    gid = _gid()
    # The submit's commit records the first call as begun; the process dies before making it.
    executor = inline.start("saga", saga_steps(participant, "reserve", "charge"), gid=gid, options=FAST)
    assert executor.tx.call_seq == 1
    del executor
    assert engine.advance(gid) is None  # the dead engine's lease still stands
    later = utcnow() + dt.timedelta(minutes=5)
    assert gid in engine.due(now=later)

    engine.advance(gid, now=later)  # adopts the dead call as UNKNOWN, then retries after the backoff

    assert drive(gid).state == SUCCEEDED
    calls = services.timeline(engine.load(gid))
    assert [(c.branch_name, c.result) for c in calls] == [
        ("reserve", UNKNOWN), ("reserve", OK), ("charge", OK)]
    assert participant.effects(gid) == [("reserve", "action"), ("charge", "action")]


def test_an_engine_whose_lease_ran_out_cannot_overwrite_an_operators_stop(participant):
    participant.always("reserve", "action", "error")
    gid = _gid()
    services.submit_saga(saga_steps(participant, "reserve", "charge"), gid=gid,
                         options={**FAST, "timeout": 0.2})
    db.session.commit()
    slow = engine.Executor(gid, lease_margin=0.0)  # its lease lasts only the call's timeout
    assert slow.claim() and slow.step() == "began"
    time.sleep(0.25)
    services.force_stop(gid)  # allowed: nobody holds a live lease
    db.session.commit()

    with pytest.raises(engine.LostLease):
        slow.step()  # makes the call, then finds the transaction is no longer its own

    tx = engine.load(gid)
    assert tx.state == STOPPED and tx.phase == "action"
    assert engine.advance(gid) is None


def test_operator_retry_while_the_saga_waits_is_picked_up_by_the_next_run(participant):
    participant.script("reserve", "action", "error")
    gid = _gid()
    progress = inline.submit_and_run("saga", saga_steps(participant, "reserve"), gid=gid,
                                     options={**FAST, "backoff": 60.0, "backoff_max": 60.0})
    assert progress.state == RUNNING and progress.next_attempt_at > utcnow() + dt.timedelta(seconds=50)

    services.retry_now(gid)
    db.session.commit()

    assert engine.advance(gid).state == SUCCEEDED
    assert participant.effects(gid) == [("reserve", "action")]
