"""The hot path against committed data: on PostgreSQL a boundary's COMMIT rides in the same
pipeline as its writes, so what the per-test savepoints of the other tests cannot show is
checked here — the saga's outcome, the connection handed back at the end of the run, and a
boundary whose lease is gone leaving nothing of itself behind (issue 7, throughput without
giving up correctness tests 13 and 14)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from taiji.platform.db import db
from taiji.platform.tx import engine, inline, services
from taiji.platform.tx.models import OK, RUNNING, SUCCEEDED, Branch, Call, Transaction
from tests.conftest import ROOT, app_overrides, sibling_database

from .conftest import FAST, saga_steps

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def live_app(app, tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    tmp = tmp_path_factory.mktemp("tx-fast-live")
    application = create_app(app_overrides(sibling_database("txfast", tmp, migrated=True), tmp / "data"))
    with application.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    try:
        yield application
    finally:
        with application.app_context():
            db.engine.dispose()


def test_a_saga_run_inline_on_committed_data_succeeds_and_hands_its_connection_back(live_app, participant):
    gid = f"live-{uuid.uuid4().hex[:10]}"
    with live_app.app_context():
        progress = inline.submit_and_run("saga", saga_steps(participant, "reserve", "charge"), gid=gid,
                                         options=FAST)
        assert progress.state == SUCCEEDED
        assert not db.session().in_transaction()  # the run's last commit released the connection
        db.session.remove()
    with live_app.app_context():  # a fresh session: what is committed
        tx = engine.load(gid)
        assert tx.state == SUCCEEDED and tx.owner is None and tx.lease_until is None
        assert [(b.name, b.state, b.seq) for b in tx.branches] == [("reserve", "succeeded", 1),
                                                                   ("charge", "succeeded", 2)]
        assert [(c.branch_name, c.result, c.attempt) for c in services.timeline(tx)] == [
            ("reserve", OK, 1), ("charge", OK, 1)]
        db.session.remove()
    assert participant.effects(gid) == [("reserve", "action"), ("charge", "action")]


def test_a_boundary_whose_lease_was_taken_writes_nothing(live_app, participant):
    gid = f"live-{uuid.uuid4().hex[:10]}"
    with live_app.app_context():
        executor = inline.start("saga", saga_steps(participant, "reserve", "charge"), gid=gid, options=FAST)
        # Another engine takes the transaction over while this one is about to call.
        with db.engine.begin() as other:
            other.execute(sa.update(Transaction).where(Transaction.gid == gid).values(owner="another-engine"))
        with pytest.raises(engine.LostLease):
            executor.step()  # the call is made; recording its answer and the next call is refused
        db.session.remove()
    with live_app.app_context():
        tx = engine.load(gid)
        assert tx.state == RUNNING and tx.owner == "another-engine"
        calls = list(db.session.execute(sa.select(Call).where(Call.transaction_id == tx.id)).scalars())
        # Only the call begun at the submit, still unanswered: the refused boundary left no trace.
        assert [(c.branch_name, c.result) for c in calls] == [("reserve", None)]
        states = dict(db.session.execute(sa.select(Branch.name, Branch.state)
                                          .where(Branch.transaction_id == tx.id)).all())
        assert states == {"reserve": "pending", "charge": "pending"}
        db.session.remove()
    assert participant.effects(gid) == [("reserve", "action")]
