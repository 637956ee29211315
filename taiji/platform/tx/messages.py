"""Reliable messages with a prepared phase and check-back (two-phase messages).

A participant that must publish a message exactly when its local transaction commits — and
cannot write into Taiji's outbox in that transaction — works in three moves:

1. ``prepare(topic, payload, check_url)``: Taiji records the message as *prepared*;
2. the participant runs its local transaction, which also records the message id in its
   barrier table (``taiji.tx.message.commit_with``);
3. ``submit(mid)``: the message is handed to the outbox and published.

If the participant dies between 2 and 3, nobody knows whether the local transaction
committed. The timer then asks: a *check-back* ``POST check_url?mid=…`` answered by
``taiji.tx.message.check_back``, which settles the question in the participant's own database
(a local transaction still in flight is waited for) and answers ``{"result": "committed"}`` or
``{"result": "rolled_back"}``. Committed messages are submitted, rolled-back ones aborted; any
other answer is asked again later.

Submitting writes one kernel outbox row whose id is derived from the message id, in the same
unit of work as the state change: the relay publishes it at least once, and the consumer's
delivery record (keyed by that id) makes a second delivery a no-op. Taiji's own code publishes
through ``taiji.platform.events.publish`` inside its unit of work and needs none of this.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform import events
from taiji.platform.db import Model, Page, after_commit, db, intpk, paginate, timestamp, utcnow
from taiji.platform.errors import Conflict, NotFound, field_error, msg
from taiji.platform.tx import egress
from taiji.platform.tx.protocol import post

PREPARED = "prepared"
SUBMITTED = "submitted"
ABORTED = "aborted"
CHECK_AFTER = 10.0
CHECK_TIMEOUT = 10.0
MAX_CHECK_DELAY = 600.0
NAMESPACE = uuid.UUID("4f1c7a3e-2b7d-4d0e-9a51-7b2f0c6e8d11")


class Message(Model):
    __tablename__ = "tx_message"
    __table_args__ = (sa.Index("ix_tx_message_due", "state", "next_check_at"),
                      sa.Index("ix_tx_message_tenant_created", "tenant_id", "created_at"))

    id: Mapped[intpk]
    mid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    tenant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kernel_tenant.id", ondelete="CASCADE"),
                                                  index=True)
    topic: Mapped[str] = mapped_column(sa.String(100))
    payload: Mapped[dict] = mapped_column(sa.JSON)
    check_url: Mapped[str | None] = mapped_column(sa.String(2000))
    state: Mapped[str] = mapped_column(sa.String(16), default=PREPARED)
    checks: Mapped[int] = mapped_column(default=0)
    next_check_at: Mapped[timestamp | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    finished_at: Mapped[timestamp | None]


class MessageCheck(Model):
    """One check-back call: what the participant answered about the local transaction."""

    __tablename__ = "tx_message_check"

    id: Mapped[intpk]
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("tx_message.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    at: Mapped[timestamp] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    answer: Mapped[str | None] = mapped_column(sa.String(32))
    error: Mapped[str | None] = mapped_column(sa.Text)


STATES = (PREPARED, SUBMITTED, ABORTED)


def event_name(topic: str) -> str:
    """The outbox event a message of ``topic`` is published as (what consumers subscribe to)."""
    return f"tx.message.{topic}"


def event_id(mid: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, mid)


def prepare(topic: str, payload: dict, *, check_url: str | None, mid: str | None = None, tenant=None,
            check_after: float = CHECK_AFTER) -> Message:
    """Record a prepared message; preparing the same ``mid`` again returns it."""
    from taiji.platform.tx.services import NAME_PATTERN, _payload, _url

    if not isinstance(topic, str) or not NAME_PATTERN.match(topic):
        raise field_error("topic", msg("Use 1 to 100 letters, digits, '.', '_' or '-'."))
    mid = mid or uuid.uuid4().hex
    existing = db.session.execute(sa.select(Message).where(Message.mid == mid)).scalar_one_or_none()
    if existing is not None:
        return existing
    row = Message(mid=mid, tenant_id=getattr(tenant, "id", tenant), topic=topic,
                  payload=_payload(payload, "message"), check_url=_url(check_url, "check_url"),
                  next_check_at=utcnow() + dt.timedelta(seconds=check_after))
    db.session.add(row)
    db.session.flush()
    return row


def _locked(mid: str, tenant) -> Message:
    stmt = sa.select(Message).where(Message.mid == mid).with_for_update().execution_options(
        populate_existing=True)
    row = db.session.execute(stmt).scalar_one_or_none()
    if row is None or (tenant is not None and row.tenant_id != getattr(tenant, "id", tenant)):
        raise NotFound(msg("No message '%(mid)s'.", mid=mid))
    return row


def get(mid: str, *, tenant=None) -> Message:
    """The message ``mid`` (of ``tenant``, when given)."""
    row = db.session.execute(sa.select(Message).where(Message.mid == str(mid)[:64])).scalar_one_or_none()
    if row is None or (tenant is not None and row.tenant_id != getattr(tenant, "id", tenant)):
        raise NotFound(msg("No message '%(mid)s'.", mid=mid))
    return row


def submit(mid: str, *, tenant=None) -> Message:
    """Publish a prepared message (idempotent); refused once it was aborted."""
    row = _locked(mid, tenant)
    if row.state == SUBMITTED:
        return row
    if row.state == ABORTED:
        raise Conflict(msg("Message %(mid)s was aborted: its local transaction did not commit.", mid=mid))
    out = events.publish(event_name(row.topic), {"message_id": row.mid, "topic": row.topic,
                                                 "payload": row.payload}, tenant=row.tenant_id)
    out.id = event_id(row.mid)
    row.state, row.finished_at, row.next_check_at = SUBMITTED, utcnow(), None
    db.session.flush()
    return row


def abort(mid: str, *, tenant=None) -> Message:
    """Drop a prepared message (idempotent); refused once it was submitted."""
    row = _locked(mid, tenant)
    if row.state == ABORTED:
        return row
    if row.state == SUBMITTED:
        raise Conflict(msg("Message %(mid)s was already published.", mid=mid))
    row.state, row.finished_at, row.next_check_at = ABORTED, utcnow(), None
    db.session.flush()
    return row


def due(now: dt.datetime | None = None, limit: int = 200) -> list[str]:
    """Prepared messages whose check-back is due."""
    now = now or utcnow()
    return list(db.session.execute(
        sa.select(Message.mid).where(Message.state == PREPARED, Message.next_check_at <= now)
        .order_by(Message.next_check_at).limit(limit)).scalars())


def check(mid: str) -> str:
    """Ask the participant whether the message's local transaction committed, and act on it."""
    row = db.session.execute(sa.select(Message).where(Message.mid == mid)).scalar_one()
    if row.state != PREPARED:
        return row.state
    answer = status = None
    if row.check_url:
        # A tenant's check-back URL is judged again now, and called at exactly the addresses judged.
        verdict = egress.check(row.check_url) if row.tenant_id is not None else None
        if verdict is not None and verdict.refused:
            row.last_error = verdict.refused[:1000]
        else:
            try:
                status, text = post(row.check_url, b"", params={"mid": mid, "op": "check"},
                                    timeout=CHECK_TIMEOUT, content_type=None,
                                    addresses=verdict.addresses if verdict is not None else None)
                answer = json.loads(text).get("result") if status == 200 else None
                row.last_error = None if answer else f"HTTP {status}"
            except (OSError, http.client.HTTPException, ValueError, AttributeError) as exc:
                row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        number = db.session.scalar(sa.select(sa.func.count()).select_from(MessageCheck)
                                   .where(MessageCheck.message_id == row.id)) + 1
        said = None if answer is None else str(answer)[:32]
        db.session.add(MessageCheck(message_id=row.id, number=number, status_code=status, answer=said,
                                    error=row.last_error))
    else:
        row.last_error = "no check-back URL: the message waits for submit or abort"
    if answer == "committed":
        submit(mid)
    elif answer == "rolled_back":
        abort(mid)
    else:
        row.checks += 1
        delay = min(MAX_CHECK_DELAY, CHECK_AFTER * 2 ** min(row.checks, 10))
        row.next_check_at = utcnow() + dt.timedelta(seconds=delay)
    db.session.commit()
    return row.state


def list_messages(*, tenant, state: str | None = None, page: int = 1, page_size: int = 20) -> Page:
    """The tenant's messages, newest first, optionally in one state."""
    stmt = sa.select(Message).where(Message.tenant_id == getattr(tenant, "id", tenant))
    if state:
        if state not in STATES:
            raise field_error("state", msg("Use one of: %(states)s.", states=', '.join(STATES)))
        stmt = stmt.where(Message.state == state)
    return paginate(stmt.order_by(Message.created_at.desc(), Message.id.desc()), page, page_size)


def checks(row: Message) -> list[MessageCheck]:
    """Every check-back made for ``row``, first first."""
    return list(db.session.execute(sa.select(MessageCheck).where(MessageCheck.message_id == row.id)
                                   .order_by(MessageCheck.number, MessageCheck.id)).scalars())


def recheck(mid: str, *, tenant) -> Message:
    """Ask the participant again now whether a prepared message's local transaction committed.

    Idempotent; refused once the message was submitted or aborted.
    """
    row = _locked(mid, tenant)
    if row.state != PREPARED:
        raise Conflict(msg("Message %(mid)s was %(state)s already; there is nothing left to check.",
                           mid=mid, state=row.state))
    if not row.check_url:
        raise Conflict(msg("Message %(mid)s has no check-back URL; submit or abort it.", mid=mid))
    row.next_check_at = utcnow()
    db.session.flush()

    def enqueue() -> None:
        from taiji.platform.tx.tasks import enqueue_check

        enqueue_check(row.mid)

    after_commit(enqueue)
    return row
