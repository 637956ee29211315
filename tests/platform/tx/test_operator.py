"""Operator actions: retry now, force stop, forward, compensate, skip a step — each idempotent
and refused where it makes no sense (correctness test 15 of issue 7)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from taiji.platform import audit
from taiji.platform.db import db, utcnow
from taiji.platform.errors import Conflict, NotFound
from taiji.platform.tx import engine, services
from taiji.platform.tx.models import PARKED, ROLLED_BACK, RUNNING, STOPPED, SUCCEEDED

from .conftest import FAST, drive, saga_steps, tcc_branches

SLOW_RETRY = {**FAST, "backoff": 30.0}  # leaves a failing step waiting between attempts


def _saga(participant, *names, options=None) -> str:
    gid = f"op-{uuid.uuid4().hex[:12]}"
    services.submit_saga(saga_steps(participant, *names), gid=gid, options={**FAST, **(options or {})})
    db.session.commit()
    return gid


def _parked_on_compensation(participant) -> str:
    participant.always("charge", "action", "fail")
    participant.always("reserve", "compensate", "error")
    gid = _saga(participant, "reserve", "charge")
    assert drive(gid).state == PARKED
    return gid


def _succeeded(participant) -> str:
    gid = _saga(participant, "reserve")
    assert drive(gid).state == SUCCEEDED
    return gid


def _act(func, *args, **kw):
    tx = func(*args, **kw)
    db.session.commit()
    return tx


def test_retry_now_resumes_a_parked_transaction_and_repeating_it_changes_nothing(participant):
    gid = _parked_on_compensation(participant)
    participant.always("reserve", "compensate", "ok")

    first = _act(services.retry_now, gid)
    second = _act(services.retry_now, gid)

    assert first.state == second.state == RUNNING and first.alerted_at is None
    assert drive(gid).state == ROLLED_BACK
    assert participant.effects(gid) == [("reserve", "action"), ("reserve", "compensate")]
    assert [a.target for a in audit.query(action="tx.transaction.retried").items].count(gid) == 2


def test_retry_now_is_refused_on_a_finished_transaction(participant):
    gid = _succeeded(participant)

    with pytest.raises(Conflict, match="succeeded and is final"):
        services.retry_now(gid)


def test_force_stop_ends_a_waiting_transaction_without_more_calls_and_is_idempotent(participant):
    participant.always("charge", "action", "error")
    gid = _saga(participant, "reserve", "charge", options=SLOW_RETRY)
    engine.advance(gid)
    calls_before = len(participant.calls(gid))

    _act(services.force_stop, gid, reason="wrong order")
    again = _act(services.force_stop, gid)

    assert again.state == STOPPED
    assert engine.advance(gid, now=utcnow() + dt.timedelta(minutes=5)) is None
    assert engine.due(now=utcnow() + dt.timedelta(hours=1)).count(gid) == 0
    assert len(participant.calls(gid)) == calls_before
    with pytest.raises(Conflict):
        services.force_stop(_succeeded(participant))


def test_forward_takes_the_failing_step_as_done_and_goes_on(participant):
    participant.always("charge", "action", "error")
    gid = _saga(participant, "reserve", "charge", "ship", options=SLOW_RETRY)
    engine.advance(gid)

    _act(services.forward, gid, step="charge")
    _act(services.forward, gid, step="charge")  # idempotent: already done, nothing more skipped

    tx = drive(gid)
    assert tx.state == SUCCEEDED
    assert [c.branch for c in participant.calls(gid, "action")] == ["reserve", "charge", "ship"]


def test_forward_is_refused_for_tcc_and_once_compensation_has_begun(participant):
    gid = f"op-{uuid.uuid4().hex[:12]}"
    services.submit_tcc(tcc_branches(participant, "a"), gid=gid, options=FAST)
    db.session.commit()
    with pytest.raises(Conflict, match="applies to sagas"):
        services.forward(gid)

    parked = _parked_on_compensation(participant)
    with pytest.raises(Conflict, match="begun compensating"):
        services.forward(parked)


def test_compensate_turns_a_running_saga_back_including_the_step_being_retried(participant):
    participant.always("charge", "action", "error")
    gid = _saga(participant, "reserve", "charge", options=SLOW_RETRY)
    engine.advance(gid)

    _act(services.compensate, gid)
    again = _act(services.compensate, gid)

    assert again.phase == "compensate"
    assert drive(gid).state == ROLLED_BACK
    assert [c.branch for c in participant.calls(gid, "compensate")] == ["charge", "reserve"]
    with pytest.raises(Conflict, match="rolled back and is final"):
        services.compensate(gid)


def test_compensate_is_refused_once_a_tcc_has_begun_confirming(participant):
    participant.always("a", "confirm", "error")
    gid = f"op-{uuid.uuid4().hex[:12]}"
    services.submit_tcc(tcc_branches(participant, "a"), gid=gid, options=SLOW_RETRY)
    db.session.commit()
    engine.advance(gid)

    with pytest.raises(Conflict, match="begun confirming"):
        services.compensate(gid)


def test_skip_step_lets_a_parked_rollback_finish_and_is_idempotent(participant):
    gid = _parked_on_compensation(participant)

    _act(services.skip_step, gid, "reserve")
    _act(services.skip_step, gid, "reserve")

    tx = drive(gid)
    assert tx.state == ROLLED_BACK
    assert [b.state for b in tx.branches] == ["skipped", "compensated"]


def test_skip_step_is_refused_for_a_done_step_and_unknown_steps_are_not_found(participant):
    participant.always("charge", "action", "error")
    gid = _saga(participant, "reserve", "charge", options=SLOW_RETRY)
    engine.advance(gid)

    with pytest.raises(Conflict, match="already succeeded"):
        services.skip_step(gid, "reserve")
    with pytest.raises(NotFound):
        services.skip_step(gid, "nope")


def test_actions_are_refused_while_an_engine_holds_the_transaction(participant):
    participant.always("charge", "action", "error")
    gid = _saga(participant, "reserve", "charge", options=SLOW_RETRY)
    executor = engine.Executor(gid)
    assert executor.claim()

    with pytest.raises(Conflict, match="engine is working"):
        services.force_stop(gid)


def test_actions_on_another_tenants_transaction_are_not_found(participant, tenant):
    gid = _saga(participant, "reserve")

    with pytest.raises(NotFound):
        services.retry_now(gid, tenant=tenant)
