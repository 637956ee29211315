"""Two engine processes compete for transactions whose engine died: each transaction gets one
owner and the right outcome (correctness test 14 of issue 7). Needs committed data, so it runs
against a database of its own."""

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
from taiji.platform.tx.models import SUCCEEDED, UNKNOWN, Call
from tests.conftest import ROOT, app_overrides, sibling_database

from .conftest import FAST, saga_steps

pytestmark = pytest.mark.live

ENGINE_SCRIPT = """
import json, sys, time
from taiji.platform.app import create_app
from taiji.platform.tx import engine
from tests.conftest import app_overrides
url, data_dir, owner, start_at, *gids = sys.argv[1:]
app = create_app(app_overrides(url, data_dir))
results = {}
with app.app_context():
    time.sleep(max(0.0, float(start_at) - time.time()))
    for gid in gids:
        progress = engine.advance(gid, owner=owner)
        results[gid] = None if progress is None else progress.state
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def live_app(app, tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    tmp = tmp_path_factory.mktemp("tx-live")
    url = sibling_database("txlive", tmp, migrated=True)
    application = create_app(app_overrides(url, tmp / "data"))
    with application.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    try:
        yield application, url, tmp / "data"
    finally:
        with application.app_context():
            db.engine.dispose()
        init_celery(app)


def test_two_engines_competing_for_dead_engines_transactions_give_each_one_owner(live_app, participant):
    application, url, data_dir = live_app
    participant.always("a", "action", "hang")  # keeps a winner busy while the other engine tries
    gids = [f"race-{uuid.uuid4().hex[:10]}" for _ in range(4)]
    with application.app_context():
        for gid in gids:
            services.submit_saga(saga_steps(participant, "a", "b"), gid=gid,
                                 options={**FAST, "backoff": 0.0, "timeout": 3.0})
        db.session.commit()
        for gid in gids:
            # An engine whose lease runs out with the call's timeout (3 s) begins a call, then dies.
            dead = engine.Executor(gid, owner="dead-engine", lease_margin=0.0)
            assert dead.claim() and dead.step() == "began"
        db.session.remove()

    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIJI_")}
    env["PYTHONPATH"] = str(ROOT)
    start_at = str(time.time() + 4.0)
    argv = [sys.executable, "-c", ENGINE_SCRIPT, url, str(data_dir)]
    procs = [subprocess.Popen([*argv, owner, start_at, *gids],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for owner in ("engine-1", "engine-2")]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))

    with application.app_context():
        for gid in gids:
            winners = [o[gid] for o in outputs if o[gid] is not None]
            assert winners == [SUCCEEDED], outputs
            tx = engine.load(gid)
            assert tx.state == SUCCEEDED and tx.owner is None
            calls = list(db.session.execute(sa.select(Call).where(Call.transaction_id == tx.id)
                                            .order_by(Call.id)).scalars())
            assert next((c.owner, c.result) for c in calls) == ("dead-engine", UNKNOWN)
            assert len({c.owner for c in calls[1:]}) == 1, [(c.owner, c.branch_name) for c in calls]
            assert len(participant.calls(gid, "action", "a")) == 1
            assert len(participant.calls(gid, "action", "b")) == 1
            assert participant.effects(gid) == [("a", "action"), ("b", "action")]
        db.session.remove()
