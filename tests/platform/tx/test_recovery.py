"""An engine killed at any persisted boundary: another one resumes every unfinished transaction
from the database alone, and the outcome stays consistent (correctness test 13 of issue 7) —
with HTTP participants and with local steps (``any_participant``)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from taiji.platform.db import db, utcnow
from taiji.platform.tx import engine, services
from taiji.platform.tx.models import ACTIVE_STATES, ROLLED_BACK, SUCCEEDED

from .conftest import FAST

# Generous retry budgets: every crash after a call began costs one UNKNOWN attempt.
PATIENT = {**FAST, "backoff": 0.0, "action_retries": 50, "retries": 50}


def _later() -> dt.datetime:
    """A moment when the dead engine's lease has run out."""
    return utcnow() + dt.timedelta(minutes=10)


def _scenario(participant, kind: str) -> str:
    gid = f"crash-{uuid.uuid4().hex[:12]}"
    if kind == "saga-ok":
        services.submit_saga(participant.saga_steps("a", "b"), gid=gid, options=PATIENT)
    elif kind == "saga-rollback":
        participant.always("c", "action", "fail")
        participant.script("a", "compensate", "error")
        services.submit_saga(participant.saga_steps("a", "c"), gid=gid, options=PATIENT)
    else:
        participant.always("c", "try", "fail")
        services.submit_tcc(participant.tcc_branches("a", "c"), gid=gid, options=PATIENT)
    db.session.commit()
    return gid


def _resume_to_the_end(gid: str):
    """What the timer and a fresh worker do after the crash."""
    for _ in range(200):
        tx = engine.load(gid)
        db.session.commit()
        if tx.state not in ACTIVE_STATES:
            return tx
        assert gid in engine.due(now=_later()), f"{tx} is unfinished but no timer would pick it up"
        engine.advance(gid, now=_later())
    raise AssertionError(f"{gid} did not finish")


def _assert_consistent(participant, gid: str, tx) -> None:
    effects = participant.effects(gid)
    assert len(effects) == len(set(effects)), f"an op took effect twice: {effects}"
    if tx.state == SUCCEEDED:
        forward = {"saga": "action", "tcc": "confirm"}[tx.kind]
        assert {b for b, op in effects if op == forward} == {b.name for b in tx.branches}
        assert not [e for e in effects if e[1] in ("compensate", "cancel")]
    else:
        assert tx.state == ROLLED_BACK
        done, undo = ("action", "compensate") if tx.kind == "saga" else ("try", "cancel")
        assert {b for b, op in effects if op == done} == {b for b, op in effects if op == undo}
    calls = services.timeline(tx)
    assert all(c.result is not None for c in calls), "a call was left in flight"


@pytest.mark.parametrize("kind", ["saga-ok", "saga-rollback", "tcc-cancel"])
def test_a_new_engine_for_every_move_brings_the_transaction_to_a_consistent_end(any_participant, kind):
    participant = any_participant
    # Each engine makes one move (a begun call also gets made) and dies holding its lease.
    gid = _scenario(participant, kind)
    engines = 0
    while True:
        executor = engine.Executor(gid)
        if not executor.claim(now=_later()):
            break
        db.session.expire_all()
        if executor.step() == "began":
            executor.step()
        engines += 1
        tx = engine.load(gid)
        db.session.commit()
        if tx.state not in ACTIVE_STATES:
            break
        assert gid in engine.due(now=_later()), "an unfinished transaction must stay visible to the timer"
        assert engines < 300

    tx = engine.load(gid)
    assert engines >= 3
    _assert_consistent(participant, gid, tx)


@pytest.mark.parametrize("kind", ["saga-ok", "saga-rollback", "tcc-cancel"])
def test_engine_killed_once_at_each_boundary_resumes_every_transaction(any_participant, kind):
    participant = any_participant
    crash_at = 0
    while True:
        participant.reset()
        gid = _scenario(participant, kind)
        executor = engine.Executor(gid)
        assert executor.claim()
        finished = False
        for _ in range(crash_at):
            if executor.step() in ("finished", "parked"):
                finished = True
                break
        # The engine dies here; its lease still stands until it runs out.
        del executor
        db.session.expire_all()
        tx = _resume_to_the_end(gid)
        _assert_consistent(participant, gid, tx)
        assert tx.state == (SUCCEEDED if kind == "saga-ok" else ROLLED_BACK)
        if finished:
            break
        crash_at += 1
    # Every boundary (one commit: an answer, the moves it leads to, the next call begun) was a
    # crash point once: a-begun, a-answered+c-begun, c-refused+compensation-begun, … the end.
    assert crash_at == {"saga-ok": 3, "saga-rollback": 6, "tcc-cancel": 5}[kind]
