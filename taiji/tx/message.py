"""The participant's half of two-phase messages (``taiji.platform.tx.messages``).

In the local transaction that makes the business change, call ``commit_with(barrier, db, mid,
work)``: it records the message id in the barrier table together with the change. When Taiji
asks back, answer with ``check_back(barrier, db, mid)`` in a local transaction of its own:

- if the business transaction committed, its row is there: ``"committed"``;
- if it rolled back (or never ran), the check-back takes the row's place, so a business
  transaction still to come can no longer commit the message's work: ``"rolled_back"``;
- if it is still running, the check-back's insert waits on the row's unique key until it ends
  (PostgreSQL; on SQLite the database write lock has the same effect), then answers as above.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taiji.tx.barrier import Barrier, Outcome, Result

BRANCH = "message"


def commit_with(barrier: Barrier, db, mid: str, work: Callable[[], Any]) -> Outcome:
    """Run ``work`` and mark message ``mid`` as belonging to this local transaction.

    ``outcome.refused`` means a check-back already declared the message rolled back: raise, so
    that the caller's transaction rolls back and the business change is not made.
    """
    return barrier.run(db, mid, BRANCH, "action", work)


def check_back(barrier: Barrier, db, mid: str) -> str:
    """``"committed"`` or ``"rolled_back"`` for message ``mid``; the caller commits."""
    outcome = barrier.run(db, mid, BRANCH, "compensate", lambda: None)
    if outcome.result is Result.NULL_COMPENSATION:
        return "rolled_back"
    if outcome.result is Result.APPLIED:
        return "committed"
    # Asked before: the action row says who wrote it.
    for branch, op, reason in barrier.ops_of(db, mid):
        if branch == BRANCH and op == "action":
            return "committed" if reason == "action" else "rolled_back"
    return "rolled_back"
