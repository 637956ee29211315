"""Two-phase messages against a real HTTP participant with its own database (correctness
tests 8 and 9 of issue 7): a crash after the local commit still delivers, a crash before never
does, a check-back during an in-flight local transaction waits and answers right, and a
re-published message has one effect at the consumer."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from taiji.platform import events
from taiji.platform.db import db
from taiji.platform.errors import Conflict
from taiji.platform.events import OutboxEvent
from taiji.platform.tx import messages


def _prepare(participant, topic="order.paid"):
    mid = f"m-{uuid.uuid4().hex[:12]}"
    messages.prepare(topic, {"order": 7}, check_url=participant.url("check"), mid=mid, check_after=0)
    db.session.commit()
    return mid


def _published(mid):
    return db.session.get(OutboxEvent, messages.event_id(mid))


def test_crash_after_the_local_commit_still_delivers(participant):
    mid = _prepare(participant)
    assert participant.local_transaction(mid).applied
    # The participant dies here, before it could submit: the check-back finds the commit.
    assert mid in messages.due()
    assert messages.check(mid) == messages.SUBMITTED
    event = _published(mid)
    assert event.name == "tx.message.order.paid" and event.payload["message_id"] == mid
    assert messages.check(mid) == messages.SUBMITTED  # asked again: nothing more


def test_crash_before_the_local_commit_never_delivers(participant):
    mid = _prepare(participant)
    participant.local_transaction(mid, fail=True)
    assert messages.check(mid) == messages.ABORTED
    assert _published(mid) is None
    # The business transaction retried late may not commit the message's work any more.
    assert participant.local_transaction(mid).refused
    assert participant.effects(mid) == []
    with pytest.raises(Conflict):
        messages.submit(mid)


def test_check_back_during_an_in_flight_local_transaction_waits_and_resolves(participant, app):
    mid = _prepare(participant)
    hold = threading.Event()
    local = threading.Thread(target=participant.local_transaction, args=(mid,), kwargs={"hold": hold})
    local.start()
    time.sleep(0.2)  # the local transaction has made its change and holds it uncommitted
    answer = {}

    def ask():
        with app.app_context():
            answer["state"] = messages.check(mid)
            db.session.remove()

    checker = threading.Thread(target=ask)
    checker.start()
    checker.join(0.5)
    assert checker.is_alive(), "the check-back answered before the local transaction ended"
    hold.set()
    local.join(10)
    checker.join(10)
    assert answer["state"] == messages.SUBMITTED
    assert participant.effects(mid) == [("message", "action")]


def test_unclear_answers_are_asked_again_later(participant):
    mid = f"m-{uuid.uuid4().hex[:12]}"
    messages.prepare("order.paid", {}, check_url=participant.url("nowhere"), mid=mid, check_after=0)
    db.session.commit()
    assert messages.check(mid) == messages.PREPARED
    assert mid not in messages.due()  # backed off


def test_relay_restart_republishes_and_the_consumer_has_one_effect(participant):
    seen: list[str] = []

    def consumer(event):
        seen.append(event.payload["message_id"])

    events.subscribe("tx.message.stock.moved", consumer)
    try:
        mid = _prepare(participant, topic="stock.moved")
        messages.submit(mid)
        messages.submit(mid)  # a participant retrying its submit publishes nothing more
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)
                                 .where(OutboxEvent.id == messages.event_id(mid))) == 1
        event_id = str(messages.event_id(mid))
        name = events.handler_name(consumer)
        assert events.deliver(event_id, name)
        db.session.commit()
        # The relay restarts before it marked the row: the event goes out again.
        _published(mid).dispatched_at = None
        db.session.commit()
        assert events.relay() >= 1 and _published(mid).dispatched_at is not None
        db.session.commit()
        assert events.deliver(event_id, name) is False
        db.session.commit()
        assert seen == [mid]
    finally:
        events.unsubscribe("tx.message.stock.moved", consumer)
