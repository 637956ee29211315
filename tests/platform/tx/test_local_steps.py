"""In-process transaction steps (local participants): what a handler's outcome means, the barrier
on Taiji's database (idempotency, null compensation, no hanging action), a crash between the
step's commit and its answer, and the refusal of unknown handlers at submit (issue 14, item 2)."""

from __future__ import annotations

import uuid

import pytest

from taiji.platform import audit
from taiji.platform.db import db
from taiji.platform.errors import Invalid
from taiji.platform.tx import engine, local, services
from taiji.platform.tx.engine import PARKED_EVENT
from taiji.platform.tx.models import FAIL, OK, PARKED, ROLLED_BACK, SUCCEEDED, UNKNOWN
from tests.fakes.local_participant import STEP, EngineDied

from .conftest import FAST, drive


def _gid() -> str:
    return f"local-{uuid.uuid4().hex[:12]}"


def _saga(lp, *names, options=None, **kw) -> str:
    gid = _gid()
    services.submit_saga(lp.saga_steps(*names, **kw), gid=gid, options={**FAST, **(options or {})})
    db.session.commit()
    return gid


def test_a_saga_of_local_steps_runs_each_once_in_order_and_logs_every_call(local_participant):
    gid = _saga(local_participant, "reserve", "charge")

    tx = drive(gid)

    assert tx.state == SUCCEEDED
    assert local_participant.effects(gid) == [("reserve", "action"), ("charge", "action")]
    calls = services.timeline(tx)
    assert [(c.branch_name, c.op, c.url, c.result) for c in calls] == [
        ("reserve", "action", "local:txfake.step", OK), ("charge", "action", "local:txfake.step", OK)]
    assert '"barrier": "applied"' in calls[0].response_summary
    assert '"done": "action"' in calls[0].response_summary
    assert calls[0].request_summary == '{"step": "reserve"}' and calls[0].duration_ms is not None


@pytest.mark.parametrize("refusal", ["fail", "conflict"])
def test_a_refusal_is_a_fail_not_retried_and_the_saga_compensates(local_participant, refusal):
    local_participant.always("charge", "action", refusal)
    gid = _saga(local_participant, "reserve", "charge")

    tx = drive(gid)

    assert tx.state == ROLLED_BACK
    assert len(local_participant.calls(gid, "action", "charge")) == 1
    charge = [c for c in services.timeline(tx) if c.branch_name == "charge"]
    assert [(c.op, c.result) for c in charge] == [("action", FAIL), ("compensate", OK)]
    assert "refused:" in charge[0].error
    # The refused step's compensation found no action behind the barrier: a null compensation.
    assert '"barrier": "null_compensation"' in charge[1].response_summary
    assert local_participant.effects(gid) == [("reserve", "action"), ("reserve", "compensate")]


def test_a_refusal_is_logged_in_english_whatever_the_language_of_the_request_running_it(
        app, local_participant):
    local_participant.always("charge", "action", "conflict")
    gid = _saga(local_participant, "reserve", "charge")
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        tx = drive(gid)
        charge = [c for c in services.timeline(tx) if c.branch_name == "charge"]
    assert charge[0].error == "refused: Already exists."


def test_any_other_exception_is_unknown_retried_then_compensated_and_leaves_nothing(local_participant):
    # "error" writes its effect and then raises: the unit of work is rolled back with it.
    local_participant.always("charge", "action", "error")
    gid = _saga(local_participant, "reserve", "charge", options={"action_retries": 2})

    tx = drive(gid)

    assert tx.state == ROLLED_BACK
    results = [(c.op, c.result) for c in services.timeline(tx) if c.branch_name == "charge"]
    assert results == [("action", UNKNOWN)] * 3 + [("compensate", OK)]
    assert all("RuntimeError: charge broke half-way" in c.error
               for c in services.timeline(tx) if c.result == UNKNOWN)
    assert local_participant.effects(gid) == [("reserve", "action"), ("reserve", "compensate")]


def test_unknown_is_not_fail_a_retry_that_succeeds_goes_forward(local_participant):
    local_participant.script("charge", "action", "error")
    gid = _saga(local_participant, "reserve", "charge")

    tx = drive(gid)

    assert tx.state == SUCCEEDED
    assert [c.result for c in services.timeline(tx) if c.branch_name == "charge"] == [UNKNOWN, OK]
    assert local_participant.calls(gid, "compensate") == []
    assert local_participant.effects(gid) == [("reserve", "action"), ("charge", "action")]


@pytest.mark.parametrize("op", ["action", "compensate"])
def test_a_crash_between_the_steps_commit_and_its_answer_applies_it_once(local_participant, op):
    if op == "compensate":
        local_participant.always("charge", "action", "fail")
    local_participant.script("reserve", op, "crash")
    gid = _saga(local_participant, "reserve", "charge", options={"backoff": 0.0})

    executor = engine.Executor(gid)
    assert executor.claim()
    with pytest.raises(EngineDied):
        for _ in range(20):
            executor.step()
    db.session.remove()  # what the dead process held is gone
    # The step committed; its call is left unanswered. The timer hands it to a new engine once the
    # dead one's lease has run out, and the retry meets the barrier's row.
    tx = engine.load(gid)
    db.session.commit()
    assert [c.result for c in services.timeline(tx) if c.branch_name == "reserve" and c.op == op] == [None]
    tx = _resume(gid)

    assert tx.state == (SUCCEEDED if op == "action" else ROLLED_BACK)
    reserve = [c for c in services.timeline(tx) if c.branch_name == "reserve" and c.op == op]
    assert [c.result for c in reserve] == [UNKNOWN, OK]
    assert '"barrier": "duplicate"' in reserve[1].response_summary
    assert local_participant.effects(gid).count(("reserve", op)) == 1


def _resume(gid: str):
    import datetime as dt

    from taiji.platform.db import utcnow

    later = utcnow() + dt.timedelta(minutes=10)
    for _ in range(50):
        engine.advance(gid, now=later)
        tx = engine.load(gid)
        db.session.commit()
        if tx.is_final or tx.state == PARKED:
            return tx
    raise AssertionError(f"{gid} did not finish")


def test_a_late_action_after_its_compensation_is_refused_by_the_barrier(local_participant):
    # Anti-hanging: the compensation ran first (null compensation); the action must not apply.
    gid = _gid()
    undo = local.invoke(local.target(STEP), gid=gid, branch="late", op="compensate", payload={}, attempt=1,
                        tenant_id=None)
    late = local.invoke(local.target(STEP), gid=gid, branch="late", op="action", payload={}, attempt=1,
                        tenant_id=None)
    again = local.invoke(local.target(STEP), gid=gid, branch="late", op="compensate", payload={}, attempt=2,
                         tenant_id=None)

    assert (undo.result, late.result, again.result) == (OK, FAIL, OK)
    assert '"null_compensation"' in undo.summary and '"duplicate"' in again.summary
    assert local_participant.effects(gid) == []
    assert local_participant.calls(gid) == []  # the handler was never even entered


def test_a_compensation_that_keeps_failing_parks_once_and_one_click_retry_finishes(local_participant):
    local_participant.always("charge", "action", "fail")
    local_participant.always("reserve", "compensate", "error")
    gid = _saga(local_participant, "reserve", "charge", options={"retries": 1, "redo_retries": 2})

    tx = drive(gid)

    assert tx.state == PARKED
    assert [a.target for a in audit.query(action=PARKED_EVENT).items].count(gid) == 1
    assert local_participant.effects(gid) == [("reserve", "action")]
    # The operator fixes the cause and presses "Retry now".
    local_participant.reset()
    services.retry_now(gid)
    db.session.commit()
    tx = drive(gid)
    assert tx.state == ROLLED_BACK
    assert local_participant.effects(gid) == [("reserve", "action"), ("reserve", "compensate")]
    assert [a.target for a in audit.query(action=PARKED_EVENT).items].count(gid) == 1


def test_tcc_branches_of_local_steps_confirm_or_cancel(local_participant):
    ok, refused = _gid(), _gid()
    services.submit_tcc(local_participant.tcc_branches("flight", "hotel"), gid=ok, options=FAST)
    db.session.commit()
    assert drive(ok).state == SUCCEEDED
    local_participant.always("hotel", "try", "fail")
    services.submit_tcc(local_participant.tcc_branches("flight", "hotel"), gid=refused, options=FAST)
    db.session.commit()
    assert drive(refused).state == ROLLED_BACK
    assert local_participant.effects(ok) == [("flight", "try"), ("hotel", "try"),
                                             ("flight", "confirm"), ("hotel", "confirm")]
    assert local_participant.effects(refused) == [("flight", "try"), ("flight", "cancel")]


@pytest.mark.parametrize(("step", "field", "why"), [
    ({"name": "a", "action": "local:nobody.nothing"}, "steps.0.action",
     "No local step handler 'nobody.nothing'"),
    ({"name": "a", "action": "local:txfake.branch"}, "steps.0.action", "has no action handler"),
    ({"name": "a", "local": "txfake.missing"}, "steps.0.local", "No local step handler"),
    ({"name": "a", "local": "Not A Name"}, "steps.0.local", "Name a registered local step"),
    ({"name": "a", "local": "txfake.step", "action": "local:txfake.step"}, "steps.0.action", "not both"),
])
def test_an_unknown_or_unfit_handler_is_refused_when_the_transaction_is_created(local_participant, step,
                                                                                 field, why):
    with pytest.raises(Invalid) as refused:
        services.submit_saga([step], gid=_gid())
    assert field in refused.value.errors["json"]
    assert why in refused.value.errors["json"][field][0]


def test_a_handler_that_is_gone_at_run_time_is_unknown_not_fail(local_participant):
    gid = _saga(local_participant, "reserve")
    step = local.lookup(STEP)
    local.unregister(STEP)
    try:
        assert engine.advance(gid).state == "running"  # waiting for its retry
        db.session.commit()
        calls = services.timeline(engine.load(gid))
        assert calls[0].result == UNKNOWN and "no local step handler" in calls[0].error
    finally:
        local.register(step, module="txfake")
    assert drive(gid).state == SUCCEEDED
