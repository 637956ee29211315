"""Local steps run by real engine processes on committed data: a process killed right after a
step's commit (before its answer is recorded) is resumed by another with the step applied once,
and two processes competing for dead engines' transactions give each one owner (issue 14 item 2;
correctness tests 13 and 14 for local steps)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy as sa

from taiji.platform.db import db
from taiji.platform.tasks import init_celery
from taiji.platform.tx import engine, services
from taiji.platform.tx.models import OK, SUCCEEDED, UNKNOWN, Call
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.fakes import local_participant as fake

from .conftest import FAST

pytestmark = pytest.mark.live

EXTRA = ("tests.fakes.local_participant",)
ENGINE_SCRIPT = """
import datetime as dt, json, sys, time
from taiji.platform.app import create_app
from taiji.platform.db import utcnow
from taiji.platform.tx import engine
from tests.conftest import app_overrides
url, data_dir, owner, start_at, later, *gids = sys.argv[1:]
app = create_app(app_overrides(url, data_dir, EXTRA_MODULES=("tests.fakes.local_participant",)))
results = {}
with app.app_context():
    time.sleep(max(0.0, float(start_at) - time.time()))
    now = utcnow() + dt.timedelta(minutes=10) if later == "later" else None
    for gid in gids:
        progress = engine.advance(gid, owner=owner, now=now)
        results[gid] = None if progress is None else progress.state
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def live_app(app, tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    tmp = tmp_path_factory.mktemp("tx-local-live")
    url = sibling_database("txlocal", tmp, migrated=True)
    application = create_app(app_overrides(url, tmp / "data", EXTRA_MODULES=EXTRA))
    with application.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        fake.metadata.create_all(db.engine)
        db.session.remove()
    try:
        yield application, url, tmp / "data"
    finally:
        with application.app_context():
            db.engine.dispose()
        init_celery(app)


def _engine(url, data_dir, owner, gids, *, later=False, start_at=None, crash_exits=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "TXFAKE_"))}
    env["PYTHONPATH"] = str(ROOT)
    if crash_exits:
        env["TXFAKE_CRASH_EXITS"] = "1"
    argv = [sys.executable, "-c", ENGINE_SCRIPT, url, str(data_dir), owner, str(start_at or 0),
            "later" if later else "now", *gids]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _calls(tx) -> list[Call]:
    query = sa.select(Call).where(Call.transaction_id == tx.id).order_by(Call.id)
    return list(db.session.execute(query).scalars())


def test_an_engine_process_killed_after_a_steps_commit_is_resumed_and_the_step_applies_once(live_app):
    application, url, data_dir = live_app
    gid = f"kill-{uuid.uuid4().hex[:10]}"
    with application.app_context():
        steps = fake.LocalParticipant().saga_steps("a", "b")
        steps[0]["payload"]["script"] = {"action": ["crash"]}
        services.submit_saga(steps, gid=gid, options={**FAST, "backoff": 0.0})
        db.session.commit()
        db.session.remove()

    dying = _engine(url, data_dir, "dying-engine", [gid], crash_exits=True)
    _, err = dying.communicate(timeout=90)
    assert dying.returncode == 17, err[-3000:]
    with application.app_context():
        assert fake.LocalParticipant().effects(gid) == [("a", "action")]  # committed before the death
        assert [(c.branch_name, c.result) for c in _calls(engine.load(gid))] == [("a", None)]
        db.session.remove()

    survivor = _engine(url, data_dir, "survivor", [gid], later=True)
    out, err = survivor.communicate(timeout=90)
    assert survivor.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1]) == {gid: SUCCEEDED}
    with application.app_context():
        tx = engine.load(gid)
        assert [(c.branch_name, c.owner, c.result) for c in _calls(tx)] == [
            ("a", "dying-engine", UNKNOWN), ("a", "survivor", OK), ("b", "survivor", OK)]
        assert '"barrier": "duplicate"' in _calls(tx)[1].response_summary
        assert fake.LocalParticipant().effects(gid) == [("a", "action"), ("b", "action")]
        db.session.remove()


def test_two_engine_processes_competing_for_local_steps_give_each_transaction_one_owner(live_app):
    application, url, data_dir = live_app
    gids = [f"race-{uuid.uuid4().hex[:10]}" for _ in range(4)]
    with application.app_context():
        for gid in gids:
            steps = fake.LocalParticipant().saga_steps("a", "b")
            # Keeps the winner busy in the step while the other engine tries to take over.
            steps[0]["payload"].update(script={"action": ["hang", "hang"]}, hang=1.0)
            services.submit_saga(steps, gid=gid, options={**FAST, "backoff": 0.0, "timeout": 3.0})
        db.session.commit()
        for gid in gids:
            dead = engine.Executor(gid, owner="dead-engine", lease_margin=0.0)
            assert dead.claim() and dead.step() == "began"
        db.session.remove()

    start_at = time.time() + 4.0
    procs = [_engine(url, data_dir, owner, gids, start_at=start_at) for owner in ("engine-1", "engine-2")]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))

    with application.app_context():
        for gid in gids:
            assert [o[gid] for o in outputs if o[gid] is not None] == [SUCCEEDED], outputs
            tx = engine.load(gid)
            calls = _calls(tx)
            assert (calls[0].owner, calls[0].result) == ("dead-engine", UNKNOWN)
            assert len({c.owner for c in calls[1:]}) == 1, [(c.owner, c.branch_name) for c in calls]
            assert fake.LocalParticipant().effects(gid) == [("a", "action"), ("b", "action")]
        db.session.remove()
