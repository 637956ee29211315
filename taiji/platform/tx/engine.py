"""The executor: advances a transaction one persisted boundary at a time.

A boundary is one commit. What must be durable before a participant is called is the intent
(the call recorded as begun, so that a crash leaves it to be re-queried or retried); what must
be durable after it is the answer. Everything between two calls is derived from persisted
state alone (plans.py), so it rides in the same commit: one boundary records the previous
answer, the moves it leads to and the next call as begun. A two-step saga is three commits.

One run of the engine loads the transaction once and keeps it in memory; each boundary writes
only the columns that changed, with Core statements. Ownership is a lease on the transaction
row, taken with a conditional UPDATE (one winner on PostgreSQL and on SQLite). Every boundary
writes the row again under ``WHERE owner = me``, which renews the lease and proves it is still
held in the same statement: an engine that finds its lease gone rolls the boundary back and
stops. Operator actions clear the owner, so a stale run cannot overwrite them either. A call
found begun but never answered belonged to a dead engine: it counts as an UNKNOWN answer.
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
from taiji.platform.tx import egress, local, plans, protocol
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
    Transaction,
)
from taiji.platform.tx.state import (
    CALLS,
    TRANSACTIONS,
    Row,
    Writes,
    load_branches,
    load_transaction,
    write,
)

log = logging.getLogger("taiji.tx")

PARKED_EVENT = "tx.transaction.parked"
# Settle and SetPhase moves are finite; this only guards against a planning bug looping forever.
MAX_MOVES_PER_BOUNDARY = 1000


class LostLease(Exception):
    """Another engine owns the transaction now (or an operator changed it); this run must stop."""


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
    tenant_id: int | None = None


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def load(gid: str) -> Transaction | None:
    """The transaction as it is in the database now, with its branches (ORM; not the hot path)."""
    stmt = (sa.select(Transaction).where(Transaction.gid == gid).options(selectinload(Transaction.branches))
            .execution_options(populate_existing=True))
    return db.session.execute(stmt).scalar_one_or_none()


class Executor:
    """One engine's hold on one transaction. ``step()`` moves it to the next boundary."""

    def __init__(self, gid: str, owner: str | None = None, *, lease_margin: float = opts.LEASE_MARGIN):
        self.gid = gid
        self.owner = owner or new_owner()
        self.lease_margin = lease_margin
        self.tx: Row | None = None
        self._begun: _Begun | None = None
        self._orphans_checked = False
        self._lease = dt.timedelta(seconds=opts.lease_seconds({}, lease_margin))
        # Writes waiting for the next boundary's commit: an answer to record, a call to begin.
        self._answer: tuple[int, dict] | None = None
        self._new_call: dict | None = None
        self._pending_begun: tuple | None = None
        # Set by start(): the transaction was inserted, numbered as begun, in this unit of work.
        self._fresh = self._inserted_here = False

    # -- ownership --------------------------------------------------------------------------

    def claim(self, now: dt.datetime | None = None, *, commit: bool = True) -> bool:
        """Take the transaction if it is active and nobody holds a live lease on it.

        With ``commit=False`` the claim rides in the first boundary's commit (``advance``): it
        holds the row until then, and nothing is called before that commit.
        """
        now = now or utcnow()
        # A fresh database transaction: on SQLite a read transaction cannot turn into a write
        # once another engine has committed since it began.
        db.session.rollback()
        t = TRANSACTIONS
        # The lease is refined from the transaction's own timeout at the first boundary.
        claimed = db.session.connection().execute(
            sa.update(t)
            .where(t.c.gid == self.gid, t.c.state.in_(ACTIVE_STATES),
                   sa.or_(t.c.owner.is_(None), t.c.owner == self.owner, t.c.lease_until < now))
            .values(owner=self.owner, lease_until=now + self._lease)
            .returning(*t.c)).mappings().first()
        if claimed is None:
            db.session.rollback()
            return False
        self._adopt(Row(claimed), load_branches(claimed["id"]))
        if commit:
            db.session.commit()
        return True

    def _adopt(self, tx: Row, branches: list[Row]) -> None:
        self.tx = tx
        tx.branches = branches
        self._lease = dt.timedelta(seconds=opts.lease_seconds(tx.options, self.lease_margin))

    def _recorded(self, call_id: int) -> None:
        """The first call was recorded as begun by the submit itself (``inline.start``)."""
        tx = self.tx
        move = plans.plan(tx)
        branch = move.branch
        self._begun = _Begun(call_id, branch.id, branch.name, move.op, move.url, tx.kind,
                             branch.payload or {}, branch.attempts, float(tx.options["timeout"]),
                             guarded=tx.tenant_id is not None, tenant_id=tx.tenant_id)

    # -- stepping ---------------------------------------------------------------------------

    def step(self) -> str:
        """Advance to the next persisted boundary and say what happened.

        Returns ``began`` (a call is recorded as begun), ``called`` (its answer is recorded and,
        when due, the next call begun), ``moved`` (a state change without a call), ``waiting``
        (nothing due before ``next_attempt_at``), ``parked``, ``finished`` or ``idle``.
        Raises ``LostLease`` when another engine or an operator has taken over.
        """
        if self._begun is not None:
            return self._make_call(self._begun)
        tx = self.tx
        if tx is None:
            # Claimed by an earlier Executor object of the same owner: read it now.
            row = load_transaction(self.gid)
            if row is None or row.owner != self.owner:
                db.session.rollback()
                raise LostLease(self.gid)
            self._adopt(row, load_branches(row.id))
            tx = self.tx
        if tx.state not in ACTIVE_STATES:
            return self._boundary("idle", release=True)
        if not self._orphans_checked:
            self._orphans_checked = True
            # No call ever began while call_seq is 0: nothing to look for.
            if tx.call_seq:
                orphan = db.session.connection().execute(
                    sa.select(CALLS.c.id, CALLS.c.branch_id, CALLS.c.op, CALLS.c.attempt)
                    .where(CALLS.c.transaction_id == tx.id, CALLS.c.result.is_(None))
                    .order_by(CALLS.c.id.desc()).limit(1)).first()
                if orphan is not None:
                    return self._adopt_orphan(orphan)
        return self._proceed(utcnow())

    def _proceed(self, now: dt.datetime, outcome: str = "moved") -> str:
        """Plan from the in-memory state up to the next call or stop, and commit that boundary."""
        tx = self.tx
        for _ in range(MAX_MOVES_PER_BOUNDARY):
            if tx.next_attempt_at is not None and tx.next_attempt_at > now:
                return self._boundary("waiting", release=True)
            move = plans.plan(tx)
            if isinstance(move, plans.Invoke):
                self._begin(move, now)
                self._boundary(None)
                return "called" if outcome == "called" else "began"
            if isinstance(move, plans.Settle):
                move.branch.state = move.state
                move.branch.attempts = 0
                _after_settled(tx, now)
            elif isinstance(move, plans.SetPhase):
                tx.phase = move.phase
                for branch in tx.branches:
                    branch.attempts = 0
            else:
                tx.state = move.state
                tx.finished_at = now
                tx.next_attempt_at = None
                return self._boundary("finished", release=True)
        raise RuntimeError(f"transaction {tx.gid}: no call or stop after {MAX_MOVES_PER_BOUNDARY} moves")

    def _begin(self, move: plans.Invoke, now: dt.datetime) -> None:
        tx, branch = self.tx, move.branch
        if self._fresh:
            # Submitted in this very unit of work, already numbered as begun (services._submit).
            self._fresh = False
        else:
            if branch.seq is None:
                tx.call_seq += 1
                branch.seq = tx.call_seq
            branch.attempts += 1
        payload = branch.payload or {}
        self._new_call = {"transaction_id": tx.id, "branch_id": branch.id, "branch_name": branch.name,
                          "op": move.op, "attempt": branch.attempts, "url": move.url, "owner": self.owner,
                          "started_at": now, "request_summary": protocol.summarize(payload)}
        self._pending_begun = (branch, move, payload)

    def _boundary(self, outcome: str | None, *, release: bool = False) -> str | None:
        """Write what changed in one commit, under the lease; raise LostLease if it is gone."""
        tx = self.tx
        if release:
            tx.owner = None
            tx.lease_until = None
        else:
            tx.lease_until = utcnow() + self._lease
        fresh, self._inserted_here = self._inserted_here, False
        if fresh:
            # The row was inserted in this same database transaction: nobody else can hold it.
            tx.lease_until = tx._clean["lease_until"]
        writes = Writes(tx.id, self.owner, None if fresh else tx.changes(),
                        [branch for branch in tx.branches if branch.changes()], self._answer, self._new_call)
        self._answer = None
        held, call_id, committed = write(writes)
        if not held:
            db.session.rollback()
            self._begun = self._new_call = self._pending_begun = None
            raise LostLease(self.gid)
        if self._new_call is not None:
            branch, move, payload = self._pending_begun
            self._begun = _Begun(call_id, branch.id, branch.name, move.op, move.url, tx.kind, payload,
                                 branch.attempts, float(tx.options["timeout"]),
                                 guarded=tx.tenant_id is not None, tenant_id=tx.tenant_id)
            self._new_call = self._pending_begun = None
        if not committed or release:
            # After a commit in the pipeline this sends nothing: it ends the session's unit of
            # work, so the run's last boundary hands the connection back and runs callbacks.
            db.session.commit()
        tx.mark_clean()
        for branch in tx.branches:
            branch.mark_clean()
        return outcome

    def _make_call(self, begun: _Begun) -> str:
        if local.is_local(begun.url):
            # A module's own handler, run here in a unit of work of its own (local.py).
            answer = local.invoke(begun.url, gid=self.gid, branch=begun.branch, op=begun.op,
                                  payload=begun.payload, attempt=begun.attempt, tenant_id=begun.tenant_id)
        else:
            answer = self._http_call(begun)
        self._begun = None
        now = utcnow()
        self._answer = (begun.call_id, {
            "result": answer.result, "status_code": answer.status_code, "response_summary": answer.summary,
            "error": answer.error, "duration_ms": answer.duration_ms, "finished_at": now})
        branch = next(b for b in self.tx.branches if b.id == begun.branch_id)
        outcome = self._apply(branch, begun.op, answer.result, answer.error or answer.summary, now)
        if outcome == "parked":
            return self._boundary("parked", release=True)
        return self._proceed(now, "called")

    def _http_call(self, begun: _Begun) -> protocol.Answer:
        verdict = egress.check(begun.url) if begun.guarded else None
        if verdict is not None and verdict.refused:
            # Not called at all, and the reason shows in the timeline: a definite FAIL, unless the
            # name merely does not resolve right now (UNKNOWN, asked again like a refused connection).
            return protocol.Answer(UNKNOWN if verdict.unresolved else FAIL, None, None, verdict.refused, 0)
        return protocol.call(begun.url, gid=self.gid, branch=begun.branch, op=begun.op, kind=begun.kind,
                             payload=begun.payload, attempt=begun.attempt, timeout=begun.timeout,
                             addresses=verdict.addresses if verdict is not None else None)

    def _adopt_orphan(self, orphan) -> str:
        tx = self.tx
        error = "the engine making this call stopped before recording its answer"
        now = utcnow()
        self._answer = (orphan.id, {"result": UNKNOWN, "error": error, "finished_at": now})
        branch = next(b for b in tx.branches if b.id == orphan.branch_id)
        if branch.attempts != orphan.attempt:
            # An operator has moved on since; the orphan's outcome changes nothing.
            return self._boundary("moved")
        if self._apply(branch, orphan.op, UNKNOWN, error, now) == "parked":
            return self._boundary("parked", release=True)
        return self._proceed(now, "called")

    # -- what an answer means ---------------------------------------------------------------

    def _apply(self, branch: Row, op: str, result: str, detail: str | None, now: dt.datetime) -> str:
        tx = self.tx
        options = tx.options
        if result == OK:
            branch.state = plans.FORWARD_OPS.get(op) or plans.SETTLING_OPS[op]
            branch.attempts = 0
            _due(tx, now)
            if op in plans.SETTLING_OPS:
                _after_settled(tx, now)
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
        tx = self.tx
        return None if tx is None else Progress(tx.gid, tx.state, tx.phase, tx.next_attempt_at)


def _after_settled(tx, now: dt.datetime) -> None:
    """A settling call succeeded: a transaction in the redo queue is back to normal running."""
    if tx.state == REDO:
        tx.state = RUNNING
        tx.redo_count = 0
    _due(tx, now)


def _due(tx, now: dt.datetime) -> None:
    """Make the transaction due now — unless it is already: a time in the past means the same to
    the timer, and an unchanged ``next_attempt_at`` (an indexed column) lets PostgreSQL update
    the row in place (a HOT update) instead of adding an entry to each of its indexes."""
    if tx.next_attempt_at is None or tx.next_attempt_at > now:
        tx.next_attempt_at = now


def park(tx, *, reason: str | None) -> None:
    """Stop retrying and wait for a person; alert once per parking.

    ``tx`` is the engine's in-memory row or an ORM ``Transaction``; the alert (audit entry and
    ``tx.transaction.parked`` event) is added to the same unit of work as the state change.
    """
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


def run(executor: Executor, max_steps: int = 100_000) -> Progress | None:
    """Step a claimed executor until its transaction waits, finishes or is parked."""
    try:
        for _ in range(max_steps):
            if executor.step() in ("waiting", "finished", "parked", "idle"):
                break
    except LostLease:
        log.info("lost the lease on a transaction; another engine continues", extra={"gid": executor.gid})
        return None
    return executor.progress()


def advance(gid: str, *, owner: str | None = None, now: dt.datetime | None = None,
            max_steps: int = 100_000) -> Progress | None:
    """Work on ``gid`` until it waits, finishes or is parked; ``None`` when it is not ours to run."""
    executor = Executor(gid, owner)
    if not executor.claim(now, commit=False):
        return None
    return run(executor, max_steps)


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
