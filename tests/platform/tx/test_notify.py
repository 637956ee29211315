"""Best-effort notifications against a real HTTP receiver (correctness test 16 of issue 7): the
schedule is followed, delivery stops at the acknowledgement, never more than the maximum, never
two attempts in flight, and a restart loses nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from flask import Flask, request
from werkzeug.serving import make_server

from taiji.platform.db import db, utcnow
from taiji.platform.tx import notify

SECRET = "receiver-shared-secret"


class Receiver:
    """Answers each notification from a script (default: not yet), recording arrivals."""

    def __init__(self):
        self.arrivals: list[tuple[float, dict, str]] = []
        self.answers: list[tuple[int, str]] = []
        self.in_flight = self.max_in_flight = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        app = Flask("receiver")

        @app.post("/hook")
        def hook():
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                signature = request.headers["Taiji-Signature"]
                self.arrivals.append((time.monotonic(), request.get_json(), signature))
                status, text = self.answers.pop(0) if self.answers else (503, "busy")
            time.sleep(self.delay)
            with self._lock:
                self.in_flight -= 1
            return text, status

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def _drive(nid, timeout=10.0):
    """Play the worker and timer until the notification is finished."""
    deadline = time.monotonic() + timeout
    while True:
        notify.recover_abandoned()
        notify.attempt(nid)
        row = notify.get_any(nid)
        db.session.refresh(row)
        if row.state != notify.PENDING:
            return row
        assert time.monotonic() < deadline, "notification still pending"
        time.sleep(max(0.0, min(0.2, (row.next_attempt_at - utcnow()).total_seconds())) + 0.001)


def _new(receiver, schedule, **kw):
    row = notify.notify(receiver.url, {"order": 42}, secret=SECRET, schedule=schedule,
                        nid=f"n-{uuid.uuid4().hex[:10]}", **kw)
    db.session.commit()
    return row.nid


def test_schedule_is_followed_and_delivery_stops_at_the_acknowledgement(receiver):
    receiver.answers = [(500, "oops"), (200, "received, thanks"), (200, "SUCCESS")]
    nid = _new(receiver, [0.2, 0.4, 0.8, 0.8])
    row = _drive(nid)
    assert row.state == notify.DELIVERED and row.attempts == 3
    times = [t for t, _, _ in receiver.arrivals]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Never early; late only by the polling and a loaded machine's jitter.
    assert 0.19 <= gaps[0] < 0.7 and 0.39 <= gaps[1] < 0.9, gaps
    time.sleep(0.3)
    assert notify.attempt(nid) is None and len(receiver.arrivals) == 3


def test_never_more_than_the_maximum_then_given_up(receiver):
    nid = _new(receiver, [0.05, 0.05, 0.05])
    row = _drive(nid)
    assert row.state == notify.GIVEN_UP and row.attempts == 4 == row.max_attempts
    assert len(receiver.arrivals) == 4


def test_body_is_signed_so_the_receiver_can_check_it(receiver):
    receiver.answers = [(200, "SUCCESS")]
    _drive(_new(receiver, [1]))
    _, body, header = receiver.arrivals[0]
    parts = dict(p.split("=", 1) for p in header.split(","))
    raw = json.dumps(body, sort_keys=True).encode()
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)


def test_the_shared_secret_is_stored_sealed(receiver):
    nid = _new(receiver, [1])
    stored = db.session.scalar(sa.select(notify.Notification.secret).where(notify.Notification.nid == nid))
    assert SECRET not in stored


@pytest.fixture(scope="module")
def committed_app(tmp_path_factory):
    """An app on its own committed database: competing workers need a connection each, which the
    per-test rollback (one shared connection) cannot give them."""
    from flask_migrate import upgrade

    from taiji.platform.app import create_app
    from tests.conftest import ROOT, app_overrides, sibling_database

    tmp = tmp_path_factory.mktemp("notify-live")
    application = create_app(app_overrides(sibling_database("notifylive", tmp, migrated=True), tmp / "data"))
    with application.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    try:
        yield application
    finally:
        with application.app_context():
            db.engine.dispose()


@pytest.mark.live
def test_competing_workers_never_have_two_attempts_in_flight(receiver, committed_app, app):
    receiver.delay = 0.3
    receiver.answers = [(200, "SUCCESS")]
    try:
        with committed_app.app_context():
            nid = _new(receiver, [0.05])
            db.session.remove()

        def worker():
            with committed_app.app_context():
                notify.attempt(nid)
                db.session.remove()

        threads = [threading.Thread(target=worker) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert receiver.max_in_flight == 1 and len(receiver.arrivals) == 1
    finally:
        # create_app re-pointed the shared Celery app; give it back to the session's app.
        from taiji.platform.tasks import init_celery

        init_celery(app)


def test_a_restart_keeps_the_schedule_and_counts_the_lost_attempt(receiver):
    nid = _new(receiver, [0.05, 0.05, 5])
    # A worker claimed the first attempt and died before recording its answer.
    row = notify.get_any(nid)
    row.attempts, row.lease_until = 1, utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    assert notify.attempt(nid) is None  # held: not taken over before the loss is counted
    assert notify.recover_abandoned() == 1
    receiver.answers = [(500, "no"), (200, "SUCCESS")]
    row = _drive(nid)
    assert row.state == notify.DELIVERED and row.attempts == 3 and len(receiver.arrivals) == 2


def test_bad_notifications_are_refused(receiver):
    from taiji.platform.errors import Invalid

    for kw in ({"schedule": [-1]}, {"schedule": "soon"}, {"secret": "short"}):
        with pytest.raises(Invalid):
            notify.notify(receiver.url, {}, **{"secret": SECRET, **kw})
    with pytest.raises(Invalid):
        notify.notify("ftp://x", {}, secret=SECRET)


def test_default_schedule_is_the_documented_one(receiver):
    row = notify.notify(receiver.url, {}, secret=SECRET)
    assert row.schedule == [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600,
                            10800, 10800, 10800, 21600, 21600]
    assert row.max_attempts == 16
