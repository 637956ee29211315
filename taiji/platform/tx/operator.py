"""What a person can do to a transaction: retry now, force stop, forward, compensate, skip a step.

Each action is idempotent — asking twice changes nothing more than asking once — and refused
with a ``Conflict`` saying why where it makes no sense (a finished transaction, a TCC that has
begun confirming, a step that already succeeded). An action never races an engine: while an
engine holds a live lease on the transaction, the action is refused and can be asked again.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from taiji.platform import audit
from taiji.platform.db import db, is_postgres, utcnow
from taiji.platform.errors import Conflict, NotFound, msg
from taiji.platform.tx.models import (
    ANY_TENANT,
    COMPENSATED,
    DONE,
    FAILED,
    FINAL_STATES,
    PENDING,
    RUNNING,
    SAGA,
    SKIPPED,
    STOPPED,
    SUCCEEDED,
    TCC,
    TRIED,
    Branch,
    Call,
    Transaction,
)
from taiji.platform.tx.plans import BACKWARD_PHASE, FIRST_PHASE


def _locked(gid: str, tenant) -> Transaction:
    from taiji.platform.tx.services import get_transaction

    tx = get_transaction(gid, tenant=tenant)
    # The engine writes with Core statements: objects this session loaded before may be stale,
    # the steps included, so everything is read again.
    stmt = (sa.select(Transaction).where(Transaction.id == tx.id).options(selectinload(Transaction.branches))
            .execution_options(populate_existing=True))
    if is_postgres():
        stmt = stmt.with_for_update()
    return db.session.execute(stmt).scalar_one()


def _refuse_final(tx: Transaction, action) -> None:
    if tx.state in FINAL_STATES:
        words = {SUCCEEDED: msg("succeeded"), STOPPED: msg("was stopped")}
        word = words.get(tx.state) or msg("was rolled back")
        raise Conflict(msg("Transaction %(tx_gid)s %(word)s and is final; it cannot be %(action)s.",
                           tx_gid=tx.gid, word=word, action=action))


def _refuse_if_engine_busy(tx: Transaction) -> None:
    if tx.owner and tx.lease_until and tx.lease_until > utcnow():
        raise Conflict(msg("An engine is working on transaction %(tx_gid)s right now; try again in a few "
                           "seconds.", tx_gid=tx.gid))


def _resume(tx: Transaction, *, fresh_budget: bool) -> None:
    """Hand the transaction back to the engine, due now."""
    tx.state = RUNNING
    tx.redo_count = 0
    tx.alerted_at = None
    tx.next_attempt_at = utcnow()
    if fresh_budget:
        for branch in tx.branches:
            branch.attempts = 0


def _done(tx: Transaction, action: str, actor, details: dict | None = None) -> Transaction:
    from taiji.platform.tx.services import _kick_after_commit

    # An engine whose lease ran out mid-call writes its next boundary under WHERE owner = it:
    # clearing the owner makes that write fail instead of overwriting the operator's decision.
    tx.owner = None
    tx.lease_until = None
    audit.record(f"tx.transaction.{action}", "tx_transaction", tx.gid, tenant=tx.tenant_id,
                 details={"kind": tx.kind, "state": tx.state, "phase": tx.phase, **(details or {})},
                 actor=actor)
    db.session.flush()
    if tx.state == RUNNING:
        _kick_after_commit(tx.gid)
    return tx


def _branch(tx: Transaction, name: str) -> Branch:
    for branch in tx.branches:
        if branch.name == name:
            return branch
    raise NotFound(msg("Transaction %(tx_gid)s has no step '%(name)s'.", tx_gid=tx.gid, name=name))


def retry_now(gid: str, *, tenant=ANY_TENANT, actor=None) -> Transaction:
    """Retry the current call now, with a fresh retry budget (also from the redo queue or parked)."""
    tx = _locked(gid, tenant)
    _refuse_final(tx, msg("retried"))
    _refuse_if_engine_busy(tx)
    _resume(tx, fresh_budget=True)
    return _done(tx, "retried", actor)


def force_stop(gid: str, *, tenant=ANY_TENANT, actor=None, reason: str | None = None) -> Transaction:
    """Stop the transaction where it is: no more calls, nothing compensated. Final."""
    tx = _locked(gid, tenant)
    if tx.state == STOPPED:
        return tx
    _refuse_final(tx, msg("stopped"))
    _refuse_if_engine_busy(tx)
    tx.state = STOPPED
    tx.next_attempt_at = None
    tx.finished_at = utcnow()
    return _done(tx, "stopped", actor, {"reason": (reason or "")[:500] or None})


def forward(gid: str, *, step: str | None = None, tenant=ANY_TENANT, actor=None) -> Transaction:
    """Take the failing step as done (the operator vouches for it) and go on with the next steps.

    Allowed while a saga runs its actions, and after it has turned back as long as no
    compensation has been called yet. ``step`` names the step meant; if it is already done,
    nothing changes.
    """
    tx = _locked(gid, tenant)
    _refuse_final(tx, msg("moved forward"))
    if tx.kind != SAGA:
        raise Conflict(msg("Forward applies to sagas; a TCC transaction confirms only once every try "
                           "succeeded."))
    if step is not None and _branch(tx, step).state in (DONE, SKIPPED) and tx.phase == FIRST_PHASE[SAGA]:
        return tx
    if tx.phase != FIRST_PHASE[SAGA]:
        began = db.session.execute(sa.select(Call.id).where(Call.transaction_id == tx.id,
                                                            Call.op == "compensate").limit(1)).first()
        if began is not None:
            raise Conflict(msg("Transaction %(tx_gid)s has begun compensating; it can no longer go "
                               "forward.", tx_gid=tx.gid))
        failing = [b for b in tx.branches if b.state == FAILED]
    else:
        failing = [b for b in tx.branches if b.state == PENDING and b.attempts > 0]
    if step is not None:
        failing = [b for b in failing if b.name == step]
    if not failing:
        if step:
            raise Conflict(msg("No step of transaction %(tx_gid)s is failing at %(step)s; there is nothing "
                               "to move past.", tx_gid=tx.gid, step=repr(step)))
        raise Conflict(msg("No step of transaction %(tx_gid)s is failing; there is nothing to move past.",
                           tx_gid=tx.gid))
    _refuse_if_engine_busy(tx)
    for branch in failing:
        branch.state = DONE
    tx.phase = FIRST_PHASE[SAGA]
    _resume(tx, fresh_budget=True)
    return _done(tx, "forwarded", actor, {"steps": [b.name for b in failing]})


def compensate(gid: str, *, tenant=ANY_TENANT, actor=None) -> Transaction:
    """Turn the transaction back now: compensate (saga) or cancel (TCC) what was called."""
    tx = _locked(gid, tenant)
    _refuse_final(tx, msg("compensated"))
    backward = BACKWARD_PHASE[tx.kind]
    if tx.phase == backward:
        return tx
    if tx.kind == TCC and tx.phase == "confirm":
        raise Conflict(msg("Transaction %(tx_gid)s has begun confirming; every branch must now confirm.",
                           tx_gid=tx.gid))
    _refuse_if_engine_busy(tx)
    for branch in tx.branches:
        # A step called but not yet succeeded may have taken effect: it is compensated too.
        if branch.state == PENDING and branch.seq is not None:
            branch.state = FAILED
    tx.phase = backward
    _resume(tx, fresh_budget=True)
    return _done(tx, "compensating", actor)


def skip_step(gid: str, step: str, *, tenant=ANY_TENANT, actor=None) -> Transaction:
    """Leave one step out: not called going forward, or (turning back) undone by hand already."""
    tx = _locked(gid, tenant)
    branch = _branch(tx, step)
    if branch.state == SKIPPED:
        return tx
    _refuse_final(tx, msg("changed"))
    forward_phase = tx.phase == FIRST_PHASE[tx.kind]
    if forward_phase and branch.state != PENDING:
        if branch.state == TRIED:
            raise Conflict(msg("Step '%(step)s' has already been tried; only a step still to do can be "
                               "skipped.", step=step))
        raise Conflict(msg("Step '%(step)s' has already succeeded; only a step still to do can be skipped.",
                           step=step))
    if not forward_phase:
        waiting = (DONE, FAILED) if tx.kind == SAGA else (TRIED, FAILED)
        if branch.state == COMPENSATED or branch.state not in waiting or (
                branch.seq is None and tx.phase != "confirm"):
            if tx.phase == "confirm":
                raise Conflict(msg("Step '%(step)s' has nothing left to confirm (it is %(state)s).",
                                   step=step, state=branch.state))
            raise Conflict(msg("Step '%(step)s' has nothing left to undo (it is %(state)s).",
                               step=step, state=branch.state))
    _refuse_if_engine_busy(tx)
    branch.state = SKIPPED
    _resume(tx, fresh_budget=True)
    return _done(tx, "step_skipped", actor, {"step": step})
