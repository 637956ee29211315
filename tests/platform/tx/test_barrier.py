"""The participant SDK's insert-first barrier, in a participant's own database (SQLite or
PostgreSQL, as the suite runs): correctness tests 1 to 5 and 7 of issue 7."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from taiji.tx.barrier import Result

ROOT = Path(__file__).resolve().parents[3]


def _gid() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


def test_compensation_of_an_action_that_never_ran_is_a_successful_no_op(participant):
    gid = _gid()

    outcome = participant.apply(gid, "pay", "compensate")

    assert outcome.result is Result.NULL_COMPENSATION and outcome.ok
    assert participant.effects(gid) == []


def test_late_try_after_cancel_is_refused_and_changes_nothing(participant):
    gid = _gid()
    assert participant.apply(gid, "seat", "cancel").result is Result.NULL_COMPENSATION

    late = participant.apply(gid, "seat", "try")

    assert late.result is Result.REFUSED and late.refused
    assert participant.apply(gid, "seat", "try").refused  # and stays refused
    assert participant.effects(gid) == []


def test_late_try_over_http_answers_failure(participant):
    gid = _gid()
    participant.apply(gid, "seat", "cancel")

    response = httpx.post(participant.url("try"), params={"gid": gid, "branch": "seat", "op": "try"}, json={})

    assert response.status_code == 409 and response.json()["result"] == "FAILURE"
    assert participant.effects(gid) == []


@pytest.mark.parametrize("try_ends", ["commit", "rollback"])
def test_try_paused_in_its_transaction_while_cancel_runs_ends_in_a_legal_state(participant, try_ends):
    gid, barrier, engine = _gid(), participant.barrier, participant.engine
    inside, release = threading.Event(), threading.Event()
    cancel_result = {}

    def slow_try():
        with engine.connect() as conn:
            tx = conn.begin()

            def work():
                participant._effect(conn, gid, "seat", "try")
                inside.set()
                release.wait(10)

            barrier.run(conn, gid, "seat", "try", work)
            tx.commit() if try_ends == "commit" else tx.rollback()

    def cancel():
        cancel_result["outcome"] = participant.apply(gid, "seat", "cancel")

    trying = threading.Thread(target=slow_try)
    trying.start()
    assert inside.wait(5)
    cancelling = threading.Thread(target=cancel)
    cancelling.start()
    time.sleep(0.3)
    assert cancelling.is_alive(), "the cancel must wait for the try's local transaction"
    release.set()
    trying.join(10)
    cancelling.join(10)

    if try_ends == "commit":
        assert cancel_result["outcome"].result is Result.APPLIED
        assert participant.effects(gid) == [("seat", "try"), ("seat", "cancel")]
    else:
        assert cancel_result["outcome"].result is Result.NULL_COMPENSATION
        assert participant.effects(gid) == []
        assert participant.apply(gid, "seat", "try").refused


@pytest.mark.parametrize("op", ["action", "try", "confirm", "compensate", "cancel"])
def test_an_op_delivered_many_times_serially_has_one_effect(participant, op):
    gid = _gid()
    if op in ("confirm", "compensate", "cancel"):
        participant.apply(gid, "b", {"confirm": "try", "compensate": "action", "cancel": "try"}[op])

    results = [participant.apply(gid, "b", op).result for _ in range(5)]

    assert results == [Result.APPLIED] + [Result.DUPLICATE] * 4
    assert participant.effects(gid).count(("b", op)) == 1


@pytest.mark.parametrize("op", ["action", "try", "confirm", "compensate", "cancel"])
def test_an_op_delivered_many_times_concurrently_has_one_effect(participant, op):
    gid = _gid()
    if op in ("confirm", "compensate", "cancel"):
        participant.apply(gid, "b", {"confirm": "try", "compensate": "action", "cancel": "try"}[op])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: participant.apply(gid, "b", op).result, range(8)))

    assert sorted(results).count(Result.APPLIED) == 1
    assert results.count(Result.DUPLICATE) == 7
    assert participant.effects(gid).count(("b", op)) == 1


def test_crash_between_barrier_insert_and_business_commit_applies_nothing(participant):
    gid = _gid()
    url = participant.engine.url.render_as_string(hide_password=False)
    # A real process dies inside the local transaction, after the barrier row and the effect.
    script = f"""
import os, sqlalchemy as sa
import taiji.platform.db  # SQLite connection settings, as the participant has them
from taiji.tx.barrier import Barrier
meta = sa.MetaData(); barrier = Barrier(metadata=meta)
effects = sa.Table("effects", meta, sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("gid", sa.String),
                   sa.Column("branch", sa.String), sa.Column("op", sa.String))
engine = sa.create_engine({url!r})
conn = engine.connect(); conn.begin()
def work():
    conn.execute(effects.insert().values(gid={gid!r}, branch="b", op="action"))
    os._exit(3)
barrier.run(conn, {gid!r}, "b", "action", work)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=60, capture_output=True,
                          text=True)
    assert done.returncode == 3, done.stderr

    assert participant.effects(gid) == []
    with participant.engine.connect() as conn:
        assert participant.barrier.ops_of(conn, gid) == []
    assert participant.apply(gid, "b", "action").result is Result.APPLIED
    assert participant.effects(gid) == [("b", "action")]


def test_business_error_rolls_back_the_barrier_row_so_a_retry_applies(participant):
    gid = _gid()

    def failing():
        with participant.engine.connect() as conn, conn.begin():
            participant.barrier.run(conn, gid, "b", "action", lambda: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        failing()

    assert participant.apply(gid, "b", "action").applied
    assert participant.effects(gid) == [("b", "action")]


def test_concurrent_rollbacks_on_a_missing_barrier_row_do_not_deadlock(participant):
    gid = _gid()
    ops = ["compensate", "cancel"] * 6
    branches = ["x", "y"] * 6
    started = time.monotonic()

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda pair: participant.apply(gid, pair[0], pair[1]).result,
                                zip(branches, ops, strict=True)))

    assert time.monotonic() - started < 10
    assert results.count(Result.NULL_COMPENSATION) == 2  # one per (branch, op) pair
    assert results.count(Result.DUPLICATE) == 10
    assert participant.effects(gid) == []
