"""Sagas against a real HTTP participant: forward, retries with backoff, compensation order,
the redo queue and parking (correctness tests 10, 11 and 12 of issue 7)."""

from __future__ import annotations

import itertools
import uuid

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent
from taiji.platform.tx import services
from taiji.platform.tx.engine import PARKED_EVENT
from taiji.platform.tx.models import FAIL, OK, PARKED, ROLLED_BACK, SUCCEEDED, UNKNOWN

from .conftest import FAST, drive, saga_steps


def _gid() -> str:
    return f"saga-{uuid.uuid4().hex[:12]}"


def _submit(participant, *names, options=None, **kw):
    gid = _gid()
    services.submit_saga(saga_steps(participant, *names, **kw), gid=gid, options={**FAST, **(options or {})})
    db.session.commit()
    return gid


def test_saga_runs_every_step_once_in_order_and_succeeds(participant):
    gid = _submit(participant, "reserve", "charge", "ship")

    tx = drive(gid)

    assert tx.state == SUCCEEDED
    assert participant.effects(gid) == [("reserve", "action"), ("charge", "action"), ("ship", "action")]
    calls = services.timeline(tx)
    assert [(c.branch_name, c.op, c.result) for c in calls] == [
        ("reserve", "action", OK), ("charge", "action", OK), ("ship", "action", OK)]
    assert all(c.duration_ms is not None and c.status_code == 200 for c in calls)


def test_transient_failure_is_retried_exactly_n_times_with_backoff_then_compensated_in_reverse(participant):
    # Test 10: "charge" answers 503 on every call; action_retries=2 means three calls in all.
    participant.always("charge", "action", "error")
    gid = _submit(participant, "reserve", "hold", "charge", "ship",
                  options={"action_retries": 2, "backoff": 0.1, "backoff_factor": 2.0})

    tx = drive(gid)

    assert tx.state == ROLLED_BACK
    tries = participant.calls(gid, "action", "charge")
    assert [c.attempt for c in tries] == [1, 2, 3]
    gaps = [b.at - a.at for a, b in itertools.pairwise(tries)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2, gaps
    # The failed step's own compensation runs first (its outcome was unknown), then the
    # completed ones latest first; the step never reached is not compensated.
    assert [c.branch for c in participant.calls(gid, "compensate")] == ["charge", "hold", "reserve"]
    assert participant.effects(gid) == [
        ("reserve", "action"), ("hold", "action"),
        ("hold", "compensate"), ("reserve", "compensate")]  # charge's compensation was a null one
    results = [(c.branch_name, c.op, c.result) for c in services.timeline(tx)]
    assert results.count(("charge", "action", UNKNOWN)) == 3
    assert ("ship", "action", OK) not in results


def test_definite_failure_is_not_retried_and_is_compensated(participant):
    participant.always("charge", "action", "fail")
    gid = _submit(participant, "reserve", "charge")

    tx = drive(gid)

    assert tx.state == ROLLED_BACK
    assert len(participant.calls(gid, "action", "charge")) == 1
    assert [c.branch for c in participant.calls(gid, "compensate")] == ["charge", "reserve"]
    assert participant.effects(gid) == [("reserve", "action"), ("reserve", "compensate")]
    assert next(c.result for c in services.timeline(tx) if c.branch_name == "charge") == FAIL


def test_timeout_is_unknown_and_retried_not_treated_as_failure(participant):
    # Test 12: the first call applies its effect but answers after the timeout.
    participant.script("charge", "action", "hang")
    gid = _submit(participant, "reserve", "charge", options={"timeout": 0.3})

    tx = drive(gid)

    assert tx.state == SUCCEEDED
    calls = [c for c in services.timeline(tx) if c.branch_name == "charge"]
    assert [c.result for c in calls] == [UNKNOWN, OK]
    assert "timeout" in calls[0].error
    assert participant.calls(gid, "compensate") == []
    # Delivered twice, applied once: the barrier saw the retry as a duplicate.
    assert participant.effects(gid) == [("reserve", "action"), ("charge", "action")]


def test_lost_answer_after_the_last_retry_is_compensated_because_it_may_have_applied(participant):
    participant.always("charge", "action", "lost")
    gid = _submit(participant, "reserve", "charge", options={"action_retries": 1})

    tx = drive(gid)

    assert tx.state == ROLLED_BACK
    assert participant.effects(gid) == [("reserve", "action"), ("charge", "action"),
                                        ("charge", "compensate"), ("reserve", "compensate")]


def test_failing_compensation_is_retried_then_redone_then_parked_with_one_alert(participant):
    # Test 11: the compensation of "reserve" never succeeds.
    participant.always("charge", "action", "fail")
    participant.always("reserve", "compensate", "error")
    gid = _submit(participant, "reserve", "charge", options={"retries": 2, "redo_retries": 3})

    tx = drive(gid)

    assert tx.state == PARKED
    # 1 call + 2 retries in the running state + 3 attempts from the redo queue; never skipped.
    assert len(participant.calls(gid, "compensate", "reserve")) == 6
    assert participant.effects(gid) == [("reserve", "action")]
    alerts = audit.query(action=PARKED_EVENT).items
    assert [a.target for a in alerts].count(gid) == 1
    # More timer ticks do not alert again.
    for _ in range(3):
        assert drive(gid).state == PARKED
    events = db.session.execute(sa.select(OutboxEvent).where(OutboxEvent.name == PARKED_EVENT)).scalars()
    assert [e.payload["gid"] for e in events].count(gid) == 1
    assert [a.target for a in audit.query(action=PARKED_EVENT).items].count(gid) == 1


def test_compensation_recovering_from_the_redo_queue_finishes_the_rollback(participant):
    participant.always("charge", "action", "fail")
    participant.script("reserve", "compensate", "error", "error", "error", "error")
    gid = _submit(participant, "reserve", "charge", options={"retries": 2, "redo_retries": 5})

    tx = drive(gid)

    assert tx.state == ROLLED_BACK
    assert tx.alerted_at is None
    assert participant.effects(gid) == [("reserve", "action"), ("reserve", "compensate")]


def test_dag_runs_steps_after_their_dependencies_and_compensates_in_reverse_start_order(participant):
    participant.always("pay", "action", "fail")
    steps = saga_steps(participant, "order", "stock", "invoice", "pay")
    steps[0]["depends_on"] = []
    steps[1]["depends_on"] = ["order"]
    steps[2]["depends_on"] = ["order"]
    steps[3]["depends_on"] = ["stock", "invoice"]
    gid = _gid()
    services.submit_saga(steps, gid=gid, options=FAST)
    db.session.commit()

    tx = drive(gid)

    assert tx.state == ROLLED_BACK
    assert [c.branch for c in participant.calls(gid, "action")] == ["order", "stock", "invoice", "pay"]
    assert [c.branch for c in participant.calls(gid, "compensate")] == ["pay", "invoice", "stock", "order"]
