"""Best-effort notifications: a signed HTTP POST to a third party, repeated on a schedule until
it acknowledges.

A notification is delivered when the receiver answers 2xx with the expected acknowledgement
body (``SUCCESS`` unless told otherwise); any other answer, a timeout or a refused connection
waits for the next slot of the schedule — by default 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m,
30m, 60m, 3h, 3h, 3h, 6h, 6h after the previous attempt — and after the last slot the
notification is given up. So a notification is sent at most ``1 + len(schedule)`` times.

Every attempt is taken with a conditional UPDATE that sets a lease on the row, and the lease
lasts longer than the call's timeout: at most one attempt per notification is ever in flight,
even with several workers. Everything lives in the database, so a restart loses nothing: an
attempt whose worker died counts as failed once its lease runs out, and the schedule goes on.

The body is signed: ``Taiji-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
with the notification's secret, so the receiver can tell it came from us and is fresh.

A tenant's notification URL is checked against the egress policy before every attempt and the
attempt connects to the addresses checked (``egress.check``); a refusal is recorded as that
attempt's error, and the schedule goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform import crypto
from taiji.platform.db import Model, Page, after_commit, db, intpk, paginate, timestamp, utcnow
from taiji.platform.errors import Conflict, NotFound, field_error, msg
from taiji.platform.tx import egress
from taiji.platform.tx.protocol import post, summarize

DEFAULT_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
DEFAULT_ACK = "SUCCESS"
SEAL_PURPOSE = "tx.notification.secret"
TIMEOUT = 10.0
LEASE_MARGIN = 30.0

PENDING = "pending"
DELIVERED = "delivered"
GIVEN_UP = "given_up"
STOPPED = "stopped"
STATES = (PENDING, DELIVERED, GIVEN_UP, STOPPED)


class NotificationAttempt(Model):
    """One attempt of a notification: when it was planned, when it was made and what came back."""

    __tablename__ = "tx_notification_attempt"

    id: Mapped[intpk]
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("tx_notification.id", ondelete="CASCADE"),
                                                 index=True)
    number: Mapped[int]
    planned_at: Mapped[timestamp | None]
    started_at: Mapped[timestamp]
    finished_at: Mapped[timestamp | None]
    status_code: Mapped[int | None]
    response_summary: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    acknowledged: Mapped[bool] = mapped_column(default=False)


class Notification(Model):
    __tablename__ = "tx_notification"
    __table_args__ = (sa.Index("ix_tx_notification_due", "state", "next_attempt_at"),
                      sa.Index("ix_tx_notification_tenant_created", "tenant_id", "created_at"))

    id: Mapped[intpk]
    nid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    tenant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kernel_tenant.id", ondelete="CASCADE"),
                                                  index=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    body: Mapped[dict] = mapped_column(sa.JSON)
    # Sealed (taiji.platform.crypto): the receiver's shared secret is needed in clear only to sign.
    secret: Mapped[str] = mapped_column(sa.Text)
    ack: Mapped[str] = mapped_column(sa.String(200), default=DEFAULT_ACK)
    schedule: Mapped[list] = mapped_column(sa.JSON)
    state: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[timestamp | None]
    lease_until: Mapped[timestamp | None]
    last_status: Mapped[int | None]
    last_response: Mapped[str | None] = mapped_column(sa.Text)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    finished_at: Mapped[timestamp | None]

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.schedule)


def _secret(row: Notification) -> str:
    try:
        return crypto.unseal(row.secret, SEAL_PURPOSE).decode()
    except crypto.InvalidToken:
        # Written before secrets were sealed (the first release of this table kept them in clear).
        return row.secret


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    """The ``Taiji-Signature`` header value for ``body``."""
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def _schedule(value) -> list[float]:
    if value is None:
        return list(DEFAULT_SCHEDULE)
    if (not isinstance(value, list | tuple) or len(value) > 50
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 7 * 86400
                       for v in value)):
        raise field_error("schedule", msg("Give at most 50 delays, each 0 to 604800 seconds."))
    return [float(v) for v in value]


def notify(url: str, body: dict, *, secret: str, tenant=None, ack: str = DEFAULT_ACK, schedule=None,
           nid: str | None = None) -> Notification:
    """Record a notification; the first attempt is made once the caller commits."""
    from taiji.platform.tx.services import _payload, _url

    url = _url(url, "url", required=True)
    body = _payload(body, "notification")
    if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
        raise field_error("secret", msg("Use 16 to 200 characters."))
    row = Notification(nid=nid or uuid.uuid4().hex, tenant_id=getattr(tenant, "id", tenant), url=url,
                       body=body, secret=crypto.seal(secret, SEAL_PURPOSE), ack=str(ack)[:200],
                       schedule=_schedule(schedule),
                       next_attempt_at=utcnow())
    db.session.add(row)
    db.session.flush()
    after_commit(lambda: _enqueue(row.nid))
    return row


def _enqueue(nid: str, countdown: float | None = None) -> None:
    from taiji.platform.tx.tasks import enqueue_notification

    enqueue_notification(nid, countdown)


def get(nid: str, *, tenant=None) -> Notification:
    """The notification ``nid`` of ``tenant`` (a receiver asking how its notification went)."""
    row = db.session.execute(sa.select(Notification).where(Notification.nid == str(nid)[:64])
                             ).scalar_one_or_none()
    if row is None or row.tenant_id != getattr(tenant, "id", tenant):
        raise NotFound(msg("No notification '%(nid)s'.", nid=nid))
    return row


def get_any(nid: str) -> Notification:
    return db.session.execute(sa.select(Notification).where(Notification.nid == nid)).scalar_one()


def due(now: dt.datetime | None = None, limit: int = 200) -> list[str]:
    """Pending notifications whose next attempt is due and that no worker holds."""
    now = now or utcnow()
    return list(db.session.execute(
        sa.select(Notification.nid).where(
            Notification.state == PENDING, Notification.next_attempt_at <= now,
            Notification.lease_until.is_(None))
        .order_by(Notification.next_attempt_at).limit(limit)).scalars())


def attempt(nid: str, *, now: dt.datetime | None = None) -> str | None:
    """Make one attempt if it is due and nobody else is making one; returns the state after it.

    None when there was nothing to do (not due, finished, or another worker holds it).
    """
    now = now or utcnow()
    lease = now + dt.timedelta(seconds=TIMEOUT + LEASE_MARGIN)
    try:
        planned = db.session.scalar(sa.select(Notification.next_attempt_at).where(Notification.nid == nid))
        claimed = db.session.execute(
            sa.update(Notification).where(
                Notification.nid == nid, Notification.state == PENDING, Notification.next_attempt_at <= now,
                # A lease run out is not taken over here: recover_abandoned counts that attempt first.
                Notification.lease_until.is_(None))
            .values(lease_until=lease, attempts=Notification.attempts + 1)
            .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
    except sa.exc.OperationalError as exc:
        # SQLite refuses a claim while another worker's claim holds the database ("database is
        # locked"): that worker is the one making the attempt, as with a claim that found a lease.
        if db.engine.dialect.name != "sqlite" or "locked" not in str(exc.orig):
            raise
        db.session.rollback()
        return None
    if not claimed:
        return None
    row = db.session.execute(sa.select(Notification).where(Notification.nid == nid)
                             .execution_options(populate_existing=True)).scalar_one()
    raw = json.dumps(row.body, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "Taiji-Notification": row.nid,
               "Taiji-Signature": sign(_secret(row), raw)}
    status = text = error = None
    started = utcnow()
    verdict = egress.check(row.url) if row.tenant_id is not None else None
    if verdict is not None and verdict.refused:
        error = verdict.refused[:1000]
    else:
        try:
            status, text = post(row.url, raw, headers=headers, timeout=TIMEOUT,
                                addresses=verdict.addresses if verdict is not None else None)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
    row.last_status, row.last_error = status, error
    row.last_response = summarize(text) if text else None
    row.lease_until = None
    finished = utcnow()
    acknowledged = status is not None and 200 <= status < 300 and text.strip() == row.ack
    db.session.add(NotificationAttempt(notification_id=row.id, number=row.attempts, planned_at=planned,
                                       started_at=started, finished_at=finished, status_code=status,
                                       response_summary=row.last_response, error=error,
                                       acknowledged=acknowledged))
    if acknowledged:
        row.state, row.finished_at, row.next_attempt_at = DELIVERED, finished, None
    elif row.attempts >= row.max_attempts:
        row.state, row.finished_at, row.next_attempt_at = GIVEN_UP, finished, None
    else:
        row.next_attempt_at = finished + dt.timedelta(seconds=row.schedule[row.attempts - 1])
    db.session.commit()
    return row.state


def recover_abandoned(now: dt.datetime | None = None) -> int:
    """Attempts whose worker died (lease run out, never answered) count as failed; the schedule goes on."""
    now = now or utcnow()
    rows = db.session.execute(sa.select(Notification).where(
        Notification.state == PENDING, Notification.lease_until.is_not(None),
        Notification.lease_until < now)).scalars().all()
    for row in rows:
        claimed_at = row.lease_until - dt.timedelta(seconds=TIMEOUT + LEASE_MARGIN)
        row.lease_until = None
        row.last_error = "the worker making this attempt stopped before recording its answer"
        db.session.add(NotificationAttempt(notification_id=row.id, number=row.attempts, started_at=claimed_at,
                                           error=row.last_error))
        if row.attempts >= row.max_attempts:
            row.state, row.finished_at, row.next_attempt_at = GIVEN_UP, now, None
        else:
            row.next_attempt_at = now + dt.timedelta(seconds=row.schedule[row.attempts - 1])
    db.session.commit()
    return len(rows)


def list_notifications(*, tenant, state: str | None = None, page: int = 1, page_size: int = 20) -> Page:
    """The tenant's notifications, newest first, optionally in one state."""
    stmt = sa.select(Notification).where(Notification.tenant_id == getattr(tenant, "id", tenant))
    if state:
        if state not in STATES:
            raise field_error("state", msg("Use one of: %(states)s.", states=', '.join(STATES)))
        stmt = stmt.where(Notification.state == state)
    return paginate(stmt.order_by(Notification.created_at.desc(), Notification.id.desc()), page, page_size)


def attempts(row: Notification) -> list[NotificationAttempt]:
    """Every attempt made for ``row``, first first."""
    return list(db.session.execute(sa.select(NotificationAttempt).where(
        NotificationAttempt.notification_id == row.id).order_by(NotificationAttempt.number,
                                                                NotificationAttempt.id)).scalars())


def _locked(nid: str, tenant) -> Notification:
    row = get(nid, tenant=tenant)
    return db.session.execute(sa.select(Notification).where(Notification.id == row.id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def retry_now(nid: str, *, tenant) -> Notification:
    """Make the next attempt of a pending notification now instead of at its planned time.

    Idempotent (asking twice makes one attempt); refused once the notification is finished,
    because the schedule's maximum is never exceeded. An attempt in flight is left to finish.
    """
    row = _locked(nid, tenant)
    if row.state != PENDING:
        raise Conflict(msg("Notification %(nid)s is %(state)s; only a pending one can be retried.",
                           nid=nid, state=row.state.replace('_', ' ')))
    if row.lease_until is None:
        row.next_attempt_at = utcnow()
        db.session.flush()
        after_commit(lambda: _enqueue(row.nid))
    return row


def stop(nid: str, *, tenant) -> Notification:
    """Make no more attempts (idempotent); refused once it was delivered or given up."""
    row = _locked(nid, tenant)
    if row.state == STOPPED:
        return row
    if row.state != PENDING:
        raise Conflict(msg("Notification %(nid)s is %(state)s already.",
                           nid=nid, state=row.state.replace('_', ' ')))
    row.state, row.finished_at, row.next_attempt_at = STOPPED, utcnow(), None
    db.session.flush()
    return row
