"""Domain events through a transactional outbox.

``publish(name, payload)`` adds an outbox row to the current unit of work: a rolled-back
change publishes nothing. After commit the relay (a Celery task, also run by the scheduler
every few seconds, so nothing is lost across restarts or a broker outage) turns each row
into one delivery task per subscribed handler. A delivery is recorded in the handler's unit
of work, so a redelivered event is skipped; a failing handler is retried with backoff and
never holds up the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from celery.signals import worker_ready
from flask import current_app, has_app_context
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform import registry as registries
from taiji.platform.db import Model, after_commit, db, intpk, is_postgres, timestamp, utcnow
from taiji.platform.tasks import celery

log = logging.getLogger("taiji.events")

# Event names under these prefixes are the kernel's; it declares them (KERNEL_EVENTS in app.py).
KERNEL_NAMESPACES = ("platform",)

MAX_DELIVERY_ATTEMPTS = 12
RELAY_BATCH = 500
# Dispatched events and their delivery records are kept this long, then purged; a copy of
# a delivery task that turns up later than this finds no event and is dropped.
RETENTION = dt.timedelta(days=7)


class OutboxEvent(Model):
    __tablename__ = "kernel_outbox"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(100), index=True)
    payload: Mapped[dict] = mapped_column(sa.JSON)
    tenant_id: Mapped[int | None]
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    dispatched_at: Mapped[timestamp | None] = mapped_column(index=True)


class EventDelivery(Model):
    """One handler has processed one event (written in the handler's own unit of work)."""

    __tablename__ = "kernel_event_delivery"
    __table_args__ = (sa.UniqueConstraint("event_id", "handler"),)

    id: Mapped[intpk]
    event_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    handler: Mapped[str] = mapped_column(sa.String(200))
    delivered_at: Mapped[timestamp] = mapped_column(default=utcnow)


class Event:
    """What a handler receives."""

    def __init__(self, row: OutboxEvent):
        self.id = row.id
        self.name = row.name
        self.payload = row.payload
        self.tenant_id = row.tenant_id
        self.created_at = row.created_at

    def __repr__(self) -> str:
        return f"<Event {self.name} {self.id}>"


def _handlers() -> dict[str, dict[str, Callable[[Event], None]]]:
    """The current application's subscriptions (taiji.platform.registry)."""
    return registries.current().handlers


def handler_name(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def subscribe(name: str, func: Callable[[Event], None]) -> None:
    _handlers().setdefault(name, {})[handler_name(func)] = func


def unsubscribe(name: str, func: Callable[[Event], None]) -> None:
    _handlers().get(name, {}).pop(handler_name(func), None)


def handlers_for(name: str) -> dict[str, Callable[[Event], None]]:
    return dict(_handlers().get(name, {}))


class EventPayloadError(ValueError):
    """A published payload does not fit the schema its publisher declared (checked under TESTING)."""


def declare(spec) -> None:
    """Record an event someone publishes (a module's ``EventSpec``; create_app calls this)."""
    events = registries.current().events
    known = events.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"event {spec.name!r} is declared twice")
    events[spec.name] = spec


def check_payload(name: str, payload) -> None:
    """Refuse a payload that does not fit its declared schema; refuse an undeclared event in the
    namespace of an enabled module or of the kernel (``<code>.…``), whose publisher must declare it."""
    registry = registries.current()
    spec = registry.event_spec(name)
    if spec is None:
        namespace = name.split(".", 1)[0]
        if namespace in {module.code for module in registry.modules} | set(KERNEL_NAMESPACES):
            raise EventPayloadError(f"event {name!r} is published but not declared: add an EventSpec "
                                    f"to the events of module {namespace!r}")
        return
    problems = spec.problems(payload)
    if problems:
        raise EventPayloadError(f"event {name!r} does not fit its declared schema: {'; '.join(problems)}")


def publish(name: str, payload: dict, *, tenant=None) -> OutboxEvent:
    """Publish ``name`` with a JSON ``payload`` as part of the current unit of work."""
    if has_app_context() and current_app.config.get("TESTING"):
        check_payload(name, payload)
    row = OutboxEvent(name=name, payload=payload, tenant_id=getattr(tenant, "id", tenant))
    db.session.add(row)
    after_commit(kick_relay, once=True)
    return row


def kick_relay() -> None:
    """Ask a worker to relay now; if the broker is away, the scheduled relay catches up."""
    try:
        # A connection of its own that tries once: through the pool, a broker outage would hold
        # the request that committed for seconds of reconnect attempts.
        with celery.connection_for_write(transport_options={"max_retries": 0}, connect_timeout=2) as conn:
            relay_outbox.apply_async(retry=False, connection=conn)
    except Exception:
        log.warning("could not enqueue the outbox relay; the scheduled relay will deliver", exc_info=True)


def relay(limit: int = RELAY_BATCH) -> int:
    """Turn undispatched outbox rows into delivery tasks. Returns how many rows it dispatched.

    Tasks are sent before the rows are marked: a crash in between sends them again later,
    which the delivery records make harmless, whereas the other order could lose events.
    """
    stmt = (
        sa.select(OutboxEvent)
        .where(OutboxEvent.dispatched_at.is_(None))
        .order_by(OutboxEvent.created_at)
        .limit(limit)
    )
    if is_postgres():
        # Two relays at once split the rows instead of both sending every row.
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(db.session.execute(stmt).scalars())
    handlers = _handlers()
    now = utcnow()
    for row in rows:
        for name in handlers.get(row.name, {}):
            deliver_event.apply_async((str(row.id), name), retry=True)
        row.dispatched_at = now
    db.session.flush()
    return len(rows)


def deliver(event_id: str, name: str) -> bool:
    """Run one handler for one event unless it already ran. Returns whether it ran.

    The delivery record is written before the handler runs and commits with the handler's
    changes: a second copy of the task, even one running at this moment elsewhere, stops
    at the record's unique constraint; a handler that fails takes its record with it.
    """
    event_uuid = uuid.UUID(event_id)
    row = db.session.get(OutboxEvent, event_uuid)
    handler = _handlers().get(row.name, {}).get(name) if row is not None else None
    if handler is None:
        log.warning("event or handler gone; dropping delivery", extra={"event_id": event_id, "handler": name})
        return False
    try:
        with db.session.begin_nested():
            db.session.add(EventDelivery(event_id=event_uuid, handler=name))
    except IntegrityError:
        log.info("event already delivered to this handler", extra={"event_id": event_id, "handler": name})
        return False
    handler(Event(row))
    db.session.flush()
    return True


def purge(older_than: dt.timedelta = RETENTION) -> int:
    """Delete dispatched events and delivery records older than ``older_than``."""
    cutoff = utcnow() - older_than
    db.session.execute(sa.delete(EventDelivery).where(EventDelivery.delivered_at < cutoff))
    dispatched_long_ago = sa.and_(OutboxEvent.dispatched_at.is_not(None), OutboxEvent.dispatched_at < cutoff)
    result = db.session.execute(sa.delete(OutboxEvent).where(dispatched_long_ago))
    return result.rowcount or 0


@celery.task(name="platform.relay_outbox", acks_late=True)
def relay_outbox() -> int:
    """Relay committed outbox rows to their handlers (also scheduled every 10 s)."""
    count = relay()
    if count >= RELAY_BATCH:
        # More are waiting: another round after this one commits, rather than one huge batch.
        after_commit(kick_relay, once=True)
    return count


@celery.task(name="platform.deliver_event", bind=True, acks_late=True, max_retries=MAX_DELIVERY_ATTEMPTS)
def deliver_event(self, event_id: str, handler: str) -> bool:
    """Deliver one event to one handler; retried with exponential backoff on failure."""
    try:
        return deliver(event_id, handler)
    except Exception as exc:
        db.session.rollback()
        attempt = self.request.retries + 1
        context = {"event_id": event_id, "handler": handler, "attempt": attempt}
        if self.request.retries >= self.max_retries:
            log.error("event handler failed for the last time; giving up", exc_info=True, extra=context)
            raise
        log.warning("event handler failed; retrying", exc_info=True, extra=context)
        raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 600)) from exc


@celery.task(name="platform.purge_outbox", acks_late=True)
def purge_outbox() -> int:
    """Forget events dispatched more than a week ago."""
    return purge()


@celery.task(name="platform.purge_idempotency", acks_late=True)
def purge_idempotency() -> int:
    """Forget Idempotency-Key answers older than a day."""
    from taiji.platform.api import IdempotencyRecord

    cutoff = utcnow() - dt.timedelta(days=1)
    result = db.session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return result.rowcount or 0


@worker_ready.connect
def _relay_on_start(sender=None, **_):
    # A worker that starts after an outage relays what waited, without waiting for the scheduler.
    kick_relay()
