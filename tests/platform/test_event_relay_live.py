"""The outbox relay against a committed database, a real broker and a real `taiji worker`.

The broker is ``TAIJI_TEST_BROKER_URL`` when set (CI: Redis), else the embedded filesystem
broker. The worker runs ``tests.fakes.event_probe``, whose handlers leave files behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from taiji.platform import events
from taiji.platform.db import db
from taiji.platform.tasks import init_celery
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.fakes.event_probe import records, wait_for
from tests.modules.cicd.live import die_with_the_test_process

pytestmark = pytest.mark.live

PROBE = "tests.fakes.event_probe"
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


class WorkerProcess:
    """One `taiji worker` subprocess (or ``command="runner"``: a `taiji runner`), in its own process
    group so that stopping it stops all."""

    def __init__(self, env: dict, log_path: Path, command: str = "worker"):
        self.env = env
        self.log_path = log_path
        self.command = command
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "taiji.cli", self.command, "--concurrency", "4"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_the_test_process,
            )

    def ensure_started(self) -> None:
        if self.proc is None:
            self.start()

    def assert_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the worker exited with {self.proc.returncode}:\n{self.log_tail()}")

    def log_tail(self, size: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-size:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


class Live:
    def __init__(self, app, data_dir: Path, worker: WorkerProcess):
        self.app = app
        self.data_dir = data_dir
        self.worker = worker

    def publish(self, name: str, payload: dict, *, commit: bool = True) -> str:
        with self.app.app_context():
            row = events.publish(name, payload)
            db.session.flush()
            event_id = str(row.id)
            if commit:
                db.session.commit()
            else:
                db.session.rollback()
            db.session.remove()
        return event_id

    def records(self, kind: str, handler: str = "*", event_id="*") -> list[dict]:
        return records(self.data_dir, kind, handler, event_id)

    def wait_for_records(self, kind, handler, event_id, count=1, timeout=30, **match) -> list[dict]:
        def enough():
            self.worker.assert_alive()
            found = [r for r in self.records(kind, handler, event_id)
                     if all(r.get(k) == v for k, v in match.items())]
            return found if len(found) >= count else None

        return wait_for(enough, timeout, f"{count} {kind} record(s) of {handler} for event {event_id}")

    def scalar(self, stmt):
        with self.app.app_context():
            value = db.session.execute(stmt).scalar()
            db.session.remove()
            return value


@pytest.fixture(scope="module")
def live(app, tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    tmp = tmp_path_factory.mktemp("relay")
    data_dir = tmp / "data"
    database_url = sibling_database("relay", tmp, migrated=True)
    broker_url = os.environ.get("TAIJI_TEST_BROKER_URL") or "filesystem://"
    live_app = create_app(app_overrides(database_url, data_dir, BROKER_URL=broker_url))
    with live_app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
        if not broker_url.startswith("filesystem"):
            # A shared server may hold messages of an earlier run of this test database.
            live_app.extensions["celery"].control.purge()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env.update({
        "TAIJI_DATABASE_URL": database_url,
        "TAIJI_BROKER_URL": broker_url,
        "TAIJI_DATA_DIR": str(data_dir),
        "TAIJI_EXTRA_MODULES": PROBE,
        "TAIJI_SECRET_KEY": "test-secret-key",
        "PYTHONPATH": str(ROOT),
    })
    worker = WorkerProcess(env, tmp / "worker.log")
    try:
        yield Live(live_app, data_dir, worker)
    finally:
        worker.stop()
        with live_app.app_context():
            db.engine.dispose()
        # The Celery app is process-wide: give it back to the session's application.
        init_celery(app)


def test_committed_events_reach_a_worker_started_later_and_rolled_back_ones_never(live):
    assert live.worker.proc is None, "this test must run before the worker starts"
    rolled_back = live.publish("probe.ping", {"marker": "rolled back"}, commit=False)
    committed = live.publish("probe.ping", {"marker": "committed"})

    # A broker outage at commit time loses the request to relay, never the event.
    live.app.config["BROKER_URL"] = UNREACHABLE_BROKER
    init_celery(live.app)
    try:
        during_outage = live.publish("probe.ping", {"marker": "during outage"})
    finally:
        live.app.config["BROKER_URL"] = live.worker.env["TAIJI_BROKER_URL"]
        init_celery(live.app)

    live.worker.start()
    [effect] = live.wait_for_records("effect", "record", committed)
    assert effect["payload"] == {"marker": "committed"}
    [effect] = live.wait_for_records("effect", "record", during_outage)
    assert effect["payload"] == {"marker": "during outage"}

    assert live.records("call", "record", rolled_back) == []
    assert live.scalar(sa.select(sa.func.count()).where(events.OutboxEvent.id == uuid.UUID(rolled_back))) == 0
    # The relay marks rows after sending their deliveries, so the mark may trail the effects.
    undispatched = sa.select(sa.func.count()).where(events.OutboxEvent.dispatched_at.is_(None))
    wait_for(lambda: live.scalar(undispatched) == 0, 30, "the relay to mark every event dispatched")


def test_failing_handler_is_retried_until_it_succeeds_and_others_still_run(live):
    live.worker.ensure_started()
    event_id = live.publish("probe.flaky", {"fail_times": 2})

    [flaky] = live.wait_for_records("effect", "flaky", event_id, timeout=40)
    [record] = live.records("effect", "record", event_id)
    assert flaky["attempts"] == 3
    assert [c["attempt"] for c in live.records("call", "flaky", event_id)] == [1, 2, 3]
    # The healthy handler did not wait for the failing one's retries.
    assert record["at"] < flaky["at"]
    assert live.records("call", "record", event_id) and len(live.records("effect", "record", event_id)) == 1
    delivered = live.scalar(
        sa.select(sa.func.count()).where(events.EventDelivery.event_id == uuid.UUID(event_id)))
    assert delivered == 2


def test_event_delivered_several_times_has_one_effect(live):
    live.worker.ensure_started()
    event_id = live.publish("probe.ping", {"marker": "redelivered"})
    handler = f"{PROBE}.record"
    # Two more copies of the delivery task, racing the relay's own copy.
    events.deliver_event.apply_async((event_id, handler))
    events.deliver_event.apply_async((event_id, handler))

    live.wait_for_records("task", "record", event_id, count=3, state="SUCCESS")
    assert len(live.records("effect", "record", event_id)) == 1
    assert len(live.records("call", "record", event_id)) == 1
