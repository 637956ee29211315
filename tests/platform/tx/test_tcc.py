"""TCC over HTTP: try every branch, then confirm all or cancel all; confirms and cancels are
retried until they succeed."""

from __future__ import annotations

import uuid

from taiji.platform.db import db
from taiji.platform.tx import services
from taiji.platform.tx.models import PARKED, ROLLED_BACK, SUCCEEDED

from .conftest import FAST, drive, tcc_branches


def _submit(participant, *names, options=None):
    gid = f"tcc-{uuid.uuid4().hex[:12]}"
    services.submit_tcc(tcc_branches(participant, *names), gid=gid, options={**FAST, **(options or {})})
    db.session.commit()
    return gid


def test_all_tries_succeed_then_every_branch_is_confirmed(participant):
    gid = _submit(participant, "flight", "hotel", "car")

    tx = drive(gid)

    assert tx.state == SUCCEEDED
    assert participant.effects(gid) == [("flight", "try"), ("hotel", "try"), ("car", "try"),
                                        ("flight", "confirm"), ("hotel", "confirm"), ("car", "confirm")]
    assert participant.calls(gid, "cancel") == []


def test_a_refused_try_cancels_every_branch_tried_latest_first(participant):
    participant.always("car", "try", "fail")
    gid = _submit(participant, "flight", "hotel", "car")

    tx = drive(gid)

    assert tx.state == ROLLED_BACK
    assert participant.calls(gid, "confirm") == []
    assert [c.branch for c in participant.calls(gid, "cancel")] == ["car", "hotel", "flight"]
    assert participant.effects(gid) == [("flight", "try"), ("hotel", "try"),
                                        ("hotel", "cancel"), ("flight", "cancel")]


def test_a_failing_confirm_is_retried_until_it_succeeds(participant):
    participant.script("hotel", "confirm", "error", "error", "error", "error")
    gid = _submit(participant, "flight", "hotel", options={"retries": 2, "redo_retries": 5})

    tx = drive(gid)

    assert tx.state == SUCCEEDED
    assert len(participant.calls(gid, "confirm", "hotel")) == 5
    assert participant.effects(gid).count(("hotel", "confirm")) == 1
    assert participant.calls(gid, "cancel") == []


def test_a_confirm_that_never_succeeds_is_parked_not_cancelled(participant):
    participant.always("hotel", "confirm", "error")
    gid = _submit(participant, "flight", "hotel", options={"retries": 1, "redo_retries": 1})

    tx = drive(gid)

    assert tx.state == PARKED and tx.phase == "confirm"
    assert participant.calls(gid, "cancel") == []
    assert len(participant.calls(gid, "confirm", "hotel")) == 3


def test_a_failed_trys_side_effect_is_still_undone(participant):
    # Correctness test 6: the try changed something and then answered FAIL; its cancel still runs.
    participant.always("hotel", "try", "dirty_fail")
    gid = _submit(participant, "flight", "hotel")

    tx = drive(gid)

    assert tx.state == ROLLED_BACK
    effects = participant.effects(gid)
    assert ("hotel", "try") in effects and ("hotel", "cancel") in effects
    assert effects[-2:] == [("hotel", "cancel"), ("flight", "cancel")]
