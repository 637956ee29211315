"""The outbox inside one process: publishing, delivery bookkeeping, relaying, purging.

Delivery by real worker processes is in test_event_relay_live.py.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
import sqlalchemy as sa

from taiji.platform import events
from taiji.platform.db import db, utcnow
from taiji.platform.tasks import celery, init_celery


class Inbox:
    """Real handlers that keep what they receive; ``fail`` makes the next calls raise."""

    def __init__(self):
        self.received: list[events.Event] = []
        self.fail = 0

    def handle(self, event):
        if self.fail:
            self.fail -= 1
            raise RuntimeError("handler fails on purpose")
        self.received.append(event)


class OtherInbox(Inbox):
    """A second subscriber: handlers are told apart by their qualified names."""

    def handle(self, event):
        super().handle(event)


@pytest.fixture
def inbox():
    box = Inbox()
    events.subscribe("test.happened", box.handle)
    yield box
    events.unsubscribe("test.happened", box.handle)


@pytest.fixture
def eager():
    celery.conf.task_always_eager = True
    yield
    celery.conf.task_always_eager = False


def _outbox(event_id) -> events.OutboxEvent | None:
    db.session.expire_all()  # tasks change rows through sessions of their own
    return db.session.get(events.OutboxEvent, event_id)


def _deliveries(event_id) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).where(events.EventDelivery.event_id == event_id)).scalar_one()


def test_published_event_is_part_of_the_unit_of_work(app):
    kept = events.publish("test.happened", {"n": 1})
    db.session.commit()
    dropped = events.publish("test.happened", {"n": 2})
    db.session.flush()
    dropped_id = dropped.id
    db.session.rollback()

    assert _outbox(kept.id).payload == {"n": 1}
    assert _outbox(kept.id).dispatched_at is None
    assert _outbox(dropped_id) is None


def test_delivery_runs_the_handler_once_however_often_it_is_repeated(app, inbox):
    event = events.publish("test.happened", {"n": 1})
    db.session.commit()
    name = events.handler_name(inbox.handle)

    assert events.deliver(str(event.id), name) is True
    db.session.commit()
    assert events.deliver(str(event.id), name) is False
    db.session.commit()

    assert [e.payload for e in inbox.received] == [{"n": 1}]
    assert inbox.received[0].id == event.id
    assert _deliveries(event.id) == 1


def test_failed_delivery_leaves_no_record_so_the_retry_runs_the_handler(app, inbox):
    event = events.publish("test.happened", {"n": 1})
    db.session.commit()
    name = events.handler_name(inbox.handle)
    inbox.fail = 1

    with pytest.raises(RuntimeError):
        events.deliver(str(event.id), name)
    db.session.rollback()
    assert _deliveries(event.id) == 0

    assert events.deliver(str(event.id), name) is True
    db.session.commit()
    assert len(inbox.received) == 1


def test_delivery_of_an_unknown_event_or_handler_is_dropped(app, inbox):
    event = events.publish("test.happened", {})
    db.session.commit()

    assert events.deliver(str(uuid.uuid4()), events.handler_name(inbox.handle)) is False
    assert events.deliver(str(event.id), "tests.nowhere.handler") is False
    assert inbox.received == []


def test_commit_relays_each_event_to_every_subscriber_and_marks_it(app, inbox, eager):
    second = OtherInbox()
    events.subscribe("test.happened", second.handle)
    try:
        event = events.publish("test.happened", {"n": 7})
        unrelated = events.publish("test.nobody.listens", {})
        # Eager tasks: the relay the commit asks for runs right here, deliveries included.
        db.session.commit()
    finally:
        events.unsubscribe("test.happened", second.handle)

    assert [e.payload for e in inbox.received] == [{"n": 7}]
    assert [e.payload for e in second.received] == [{"n": 7}]
    assert _outbox(event.id).dispatched_at is not None
    assert _outbox(unrelated.id).dispatched_at is not None
    assert _deliveries(event.id) == 2
    # A second relay finds nothing left to send.
    assert events.relay() == 0


def test_commit_survives_a_broker_outage_and_leaves_the_event_for_the_scheduled_relay(app):
    reachable = app.config["BROKER_URL"]
    app.config["BROKER_URL"] = "redis://127.0.0.1:1/0"
    init_celery(app)
    try:
        started = time.monotonic()
        event = events.publish("test.happened", {"n": 1})
        db.session.commit()
        elapsed = time.monotonic() - started
    finally:
        app.config["BROKER_URL"] = reachable
        init_celery(app)

    assert elapsed < 3
    assert _outbox(event.id).dispatched_at is None


def test_purge_forgets_old_dispatched_events_only(app):
    old = events.publish("test.happened", {"age": "old"})
    fresh = events.publish("test.happened", {"age": "fresh"})
    waiting = events.publish("test.happened", {"age": "old but undelivered"})
    db.session.flush()
    long_ago = utcnow() - dt.timedelta(days=30)
    old.dispatched_at = long_ago
    waiting.created_at = long_ago
    fresh.dispatched_at = utcnow()
    db.session.add(events.EventDelivery(event_id=old.id, handler="h", delivered_at=long_ago))
    db.session.commit()

    events.purge()
    db.session.commit()

    assert _outbox(old.id) is None
    assert _deliveries(old.id) == 0
    assert _outbox(fresh.id) is not None
    assert _outbox(waiting.id) is not None
