"""What a transaction does next, read from its persisted state alone.

A plan never calls anyone and never writes: it looks at the transaction and its branches and
answers with the next move. Because the answer depends only on what is in the database, an
engine that starts over after a crash makes the same decision the dead one would have made.

Saga: actions in order (or as the DAG allows), then — after a failure — compensations of every
step whose action was ever called, the latest-started first. The failed step is included: its
action may have taken effect before the answer was lost, and a participant with a barrier
turns a compensation of an action that never ran into a no-op (null compensation).

TCC: try every branch; if all tried, confirm every branch; otherwise cancel every branch whose
try was ever called, latest first.
"""

from __future__ import annotations

from dataclasses import dataclass

from taiji.platform.tx.models import (
    CANCELLED,
    COMPENSATED,
    CONFIRMED,
    DONE,
    FAILED,
    PENDING,
    ROLLED_BACK,
    SAGA,
    SKIPPED,
    SUCCEEDED,
    TCC,
    TRIED,
    Branch,
    Transaction,
)

# Ops that move a transaction forward and may be given up; the others must eventually succeed.
FORWARD_OPS = {"action": DONE, "try": TRIED}
SETTLING_OPS = {"compensate": COMPENSATED, "confirm": CONFIRMED, "cancel": CANCELLED}
FIRST_PHASE = {SAGA: "action", TCC: "try"}
BACKWARD_PHASE = {SAGA: "compensate", TCC: "cancel"}
URL_OF_OP = {"action": "action_url", "compensate": "compensate_url", "try": "try_url",
             "confirm": "confirm_url", "cancel": "cancel_url"}


@dataclass(frozen=True)
class Invoke:
    branch: Branch
    op: str
    url: str


@dataclass(frozen=True)
class Settle:
    """Mark a branch settled without a call (it has no URL for this op)."""

    branch: Branch
    state: str


@dataclass(frozen=True)
class SetPhase:
    phase: str


@dataclass(frozen=True)
class Finish:
    state: str


Move = Invoke | Settle | SetPhase | Finish


def dependencies(branch: Branch, branches: list[Branch]) -> set[str]:
    if branch.depends_on is not None:
        return set(branch.depends_on)
    earlier = [b for b in branches if b.position < branch.position]
    return {earlier[-1].name} if earlier else set()


def _call(branch: Branch, op: str, settled: str) -> Move:
    url = getattr(branch, URL_OF_OP[op])
    return Invoke(branch, op, url) if url else Settle(branch, settled)


def _backward(branches: list[Branch], op: str, to_undo: tuple[str, ...], settled: str) -> Move:
    called = [b for b in branches if b.seq is not None and b.state in to_undo]
    if not called:
        return Finish(ROLLED_BACK)
    return _call(max(called, key=lambda b: b.seq), op, settled)


def plan(tx: Transaction) -> Move:
    branches = sorted(tx.branches, key=lambda b: b.position)
    if tx.kind == SAGA:
        if tx.phase == "action":
            done = {b.name for b in branches if b.state in (DONE, SKIPPED)}
            for branch in branches:
                if branch.state == PENDING and dependencies(branch, branches) <= done:
                    return _call(branch, "action", DONE)
            if all(b.state in (DONE, SKIPPED) for b in branches):
                return Finish(SUCCEEDED)
            # Only an operator's edit can leave pending steps whose dependencies cannot succeed.
            return SetPhase("compensate")
        return _backward(branches, "compensate", (DONE, FAILED), COMPENSATED)
    if tx.phase == "try":
        for branch in branches:
            if branch.state == PENDING:
                return _call(branch, "try", TRIED)
        return SetPhase("confirm")
    if tx.phase == "confirm":
        for branch in branches:
            if branch.state == TRIED:
                return _call(branch, "confirm", CONFIRMED)
        return Finish(SUCCEEDED)
    return _backward(branches, "cancel", (TRIED, FAILED), CANCELLED)
