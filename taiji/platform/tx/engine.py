"""The executor: advances a transaction one persisted boundary at a time.

Every move is committed before the next one starts — a call is recorded as begun before it is
made and as answered right after — so an engine killed anywhere leaves a state that any other
engine can resume. Ownership is a lease on the transaction row, taken with a conditional
UPDATE (one winner on PostgreSQL and on SQLite) and renewed at every boundary; an engine that
finds its lease gone stops without writing. A call found begun but never answered belonged to
a dead engine: it counts as an UNKNOWN answer, like a timeout.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from taiji.platform import audit, events
from taiji.platform.db import db, is_postgres, utcnow
from taiji.platform.tx import egress, plans, protocol
from taiji.platform.tx import options as opts
from taiji.platform.tx.models import (
    ACTIVE_STATES,
    FAIL,
    FAILED,
    OK,
    PARKED,
    REDO,
    RUNNING,
    UNKNOWN,
    Branch,
    Call,
    Transaction,
)

log = logging.getLogger("taiji.tx")

PARKED_EVENT = "tx.transaction.parked"


class LostLease(Exception):
    """Another engine owns the transaction now; this one must stop touching it."""


@dataclass(frozen=True)
class Progress:
    gid: str
    state: str
    phase: str
    next_attempt_at: dt.datetime | None


@dataclass(frozen=True)
class _Begun:
    call_id: int
    branch_id: int
    branch: str
    op: str
    url: str
    kind: str
    payload: dict
    attempt: int
    timeout: float
    # A tenant's transaction: the address is checked again right before the call (egress.py).
    guarded: bool = False


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def load(gid: str) -> Transaction | None:
    """The transaction as it is in the database now, with its branches."""
    stmt = (sa.select(Transaction).where(Transaction.gid == gid).options(selectinload(Transaction.branches))
            .execution_options(populate_existing=True))
    return db.session.execute(stmt).scalar_one_or_none()


class Executor:
    """One engine's hold on one transaction. ``step()`` moves it to the next boundary."""

    def __init__(self, gid: str, owner: str | None = None, *, lease_margin: float = opts.LEASE_MARGIN):
        self.gid = gid
        self.owner = owner or new_owner()
        self.lease_margin = lease_margin
        self._begun: _Begun | None = None
        self._orphans_checked = False
        self._lease = dt.timedelta(seconds=opts.lease_seconds({}, lease_margin))

    # -- ownership --------------------------------------------------------------------------

    def claim(self, now: dt.datetime | None = None) -> bool:
        """Take the transaction if it is active and nobody holds a live lease on it."""
        now = now or utcnow()
        tx = load(self.gid)
        if tx is None or tx.state not in ACTIVE_STATES:
            db.session.rollback()
            return False
        self._lease = dt.timedelta(seconds=opts.lease_seconds(tx.options, self.lease_margin))
        until = now + self._lease
        # Start the claim in a fresh transaction: on SQLite a read transaction cannot turn
        # into a write once another engine has committed since it began.
        db.session.rollback()
        result = db.session.execute(
            sa.update(Transaction)
            .where(Transaction.gid == self.gid, Transaction.state.in_(ACTIVE_STATES),
                   sa.or_(Transaction.owner.is_(None), Transaction.owner == self.owner,
                          Transaction.lease_until < now))
            .values(owner=self.owner, lease_until=until)
            .execution_options(synchronize_session=False))
        db.session.commit()
        return result.rowcount == 1

    def _renew(self) -> None:
        until = utcnow() + self._lease
        result = db.session.execute(
            sa.update(Transaction).where(Transaction.gid == self.gid, Transaction.owner == self.owner)
            .values(lease_until=until).execution_options(synchronize_session=False))
        if result.rowcount != 1:
            db.session.rollback()
            self._begun = None
            raise LostLease(self.gid)

    def _release(self, tx: Transaction) -> None:
        tx.owner = None
        tx.lease_until = None

    # -- stepping ---------------------------------------------------------------------------

    def step(self) -> str:
        """Advance to the next persisted boundary and say what happened.

        Returns ``began`` (a call is recorded as begun), ``called`` (its answer is recorded),
        ``moved`` (a state change without a call), ``waiting`` (nothing due before
        ``next_attempt_at``), ``parked``, ``finished`` or ``idle`` (nothing to do).
        Raises ``LostLease`` when another engine has taken over.
        """
        if self._begun is not None:
            return self._make_call(self._begun)
        self._renew()
        tx = load(self.gid)
        if tx.state not in ACTIVE_STATES:
            self._release(tx)
            db.session.commit()
            return "idle"
        if not self._orphans_checked:
            self._orphans_checked = True
            orphan = db.session.execute(
                sa.select(Call).where(Call.transaction_id == tx.id, Call.result.is_(None))
                .order_by(Call.id.desc()).limit(1)).scalar_one_or_none()
            if orphan is not None:
                return self._adopt_orphan(tx, orphan)
        now = utcnow()
        if tx.next_attempt_at is not None and tx.next_attempt_at > now:
            self._release(tx)
            db.session.commit()
            return "waiting"
        move = plans.plan(tx)
        if isinstance(move, plans.Invoke):
            return self._begin(tx, move, now)
        if isinstance(move, plans.Settle):
            move.branch.state = move.state
            move.branch.attempts = 0
            _after_settled(tx)
        elif isinstance(move, plans.SetPhase):
            tx.phase = move.phase
            for branch in tx.branches:
                branch.attempts = 0
        else:
            tx.state = move.state
            tx.finished_at = now
            tx.next_attempt_at = None
            self._release(tx)
            db.session.commit()
            return "finished"
        db.session.commit()
        return "moved"

    def _begin(self, tx: Transaction, move: plans.Invoke, now: dt.datetime) -> str:
        branch = move.branch
        if branch.seq is None:
            tx.call_seq += 1
            branch.seq = tx.call_seq
        branch.attempts += 1
        call = Call(transaction_id=tx.id, branch_id=branch.id, branch_name=branch.name, op=move.op,
                    attempt=branch.attempts, url=move.url, owner=self.owner, started_at=now,
                    request_summary=protocol.summarize(branch.payload or {}))
        db.session.add(call)
        db.session.flush()
        self._begun = _Begun(call.id, branch.id, branch.name, move.op, move.url, tx.kind,
                             dict(branch.payload or {}), branch.attempts, float(tx.options["timeout"]),
                             guarded=tx.tenant_id is not None)
        db.session.commit()
        return "began"

    def _make_call(self, begun: _Begun) -> str:
        refused = egress.refusal(begun.url, unresolved_ok=True) if begun.guarded else None
        if refused:
            # Not called at all: a definite FAIL, and the reason shows in the timeline.
            answer = protocol.Answer(FAIL, None, None, refused, 0)
        else:
            answer = protocol.call(begun.url, gid=self.gid, branch=begun.branch, op=begun.op, kind=begun.kind,
                                   payload=begun.payload, attempt=begun.attempt, timeout=begun.timeout)
        self._begun = None
        self._renew()
        tx = load(self.gid)
        call = db.session.get(Call, begun.call_id)
        call.result = answer.result
        call.status_code = answer.status_code
        call.response_summary = answer.summary
        call.error = answer.error
        call.duration_ms = answer.duration_ms
        call.finished_at = utcnow()
        branch = next(b for b in tx.branches if b.id == begun.branch_id)
        outcome = self._apply(tx, branch, begun.op, answer.result, answer.error or answer.summary)
        db.session.commit()
        return outcome

    def _adopt_orphan(self, tx: Transaction, call: Call) -> str:
        call.result = UNKNOWN
        call.error = "the engine making this call stopped before recording its answer"
        call.finished_at = utcnow()
        branch = next(b for b in tx.branches if b.id == call.branch_id)
        if branch.attempts != call.attempt or tx.state not in ACTIVE_STATES:
            # An operator has moved on since; the orphan's outcome changes nothing.
            db.session.commit()
            return "moved"
        outcome = self._apply(tx, branch, call.op, UNKNOWN, call.error)
        db.session.commit()
        return outcome

    # -- what an answer means ---------------------------------------------------------------

    def _apply(self, tx: Transaction, branch: Branch, op: str, result: str, detail: str | None) -> str:
        now = utcnow()
        options = tx.options
        if result == OK:
            branch.state = plans.FORWARD_OPS.get(op) or plans.SETTLING_OPS[op]
            branch.attempts = 0
            tx.next_attempt_at = now
            if op in plans.SETTLING_OPS:
                _after_settled(tx)
            return "called"
        tx.last_error = f"{branch.name} {op}: {result}{f' ({detail})' if detail else ''}"[:2000]
        if op in plans.FORWARD_OPS:
            if result == FAIL or branch.attempts > options["action_retries"]:
                branch.state = FAILED
                tx.phase = plans.BACKWARD_PHASE[tx.kind]
                for each in tx.branches:
                    each.attempts = 0
                tx.next_attempt_at = now
            else:
                tx.next_attempt_at = now + dt.timedelta(seconds=opts.retry_delay(options, branch.attempts))
            return "called"
        # Compensations, confirms and cancels are never given up: retry, then redo, then a person.
        if tx.state == RUNNING and branch.attempts <= options["retries"]:
            tx.next_attempt_at = now + dt.timedelta(seconds=opts.retry_delay(options, branch.attempts))
        elif tx.state == RUNNING:
            tx.state = REDO
            tx.redo_count = 0
            tx.next_attempt_at = now + dt.timedelta(seconds=options["redo_backoff"])
        else:
            tx.redo_count += 1
            if tx.redo_count >= options["redo_retries"]:
                park(tx, reason=tx.last_error)
                return "parked"
            tx.next_attempt_at = now + dt.timedelta(seconds=options["redo_backoff"])
        return "called"

    def progress(self) -> Progress | None:
        tx = load(self.gid)
        db.session.commit()
        return None if tx is None else Progress(tx.gid, tx.state, tx.phase, tx.next_attempt_at)


def _after_settled(tx: Transaction) -> None:
    """A settling call succeeded: a transaction in the redo queue is back to normal running."""
    if tx.state == REDO:
        tx.state = RUNNING
        tx.redo_count = 0
    tx.next_attempt_at = utcnow()


def park(tx: Transaction, *, reason: str | None) -> None:
    """Stop retrying and wait for a person; alert once per parking."""
    tx.state = PARKED
    tx.next_attempt_at = None
    tx.owner = None
    tx.lease_until = None
    if tx.alerted_at is not None:
        return
    tx.alerted_at = utcnow()
    details = {"gid": tx.gid, "kind": tx.kind, "phase": tx.phase, "business_key": tx.business_key,
               "reason": reason}
    audit.record(PARKED_EVENT, "tx_transaction", tx.gid, tenant=tx.tenant_id, details=details)
    events.publish(PARKED_EVENT, details, tenant=tx.tenant_id)
    log.warning("transaction parked for an operator", extra={"gid": tx.gid, "reason": reason})


def advance(gid: str, *, owner: str | None = None, now: dt.datetime | None = None,
            max_steps: int = 100_000) -> Progress | None:
    """Work on ``gid`` until it waits, finishes or is parked; ``None`` when it is not ours to run."""
    executor = Executor(gid, owner)
    if not executor.claim(now):
        return None
    try:
        for _ in range(max_steps):
            if executor.step() in ("waiting", "finished", "parked", "idle"):
                break
    except LostLease:
        log.info("lost the lease on a transaction; another engine continues", extra={"gid": gid})
        return None
    return executor.progress()


def due(now: dt.datetime | None = None, limit: int = 200) -> list[str]:
    """Active transactions whose next attempt is due and that no live engine holds."""
    now = now or utcnow()
    stmt = (sa.select(Transaction.gid)
            .where(Transaction.state.in_(ACTIVE_STATES), Transaction.next_attempt_at <= now,
                   sa.or_(Transaction.owner.is_(None), Transaction.lease_until < now))
            .order_by(Transaction.next_attempt_at).limit(limit))
    if is_postgres():
        # Two timers at once split the due rows instead of both dispatching every row.
        stmt = stmt.with_for_update(skip_locked=True)
    return list(db.session.execute(stmt).scalars())
