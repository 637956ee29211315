"""The fast path: a transaction submitted and run by the process that submits it.

Code that owns its unit of work (the platform's own operations, tasks, the benchmark) need not
hand a new transaction to a worker and wait: ``start`` creates it owned by an engine of this
process, with its first call recorded as begun in the submit's own commit, and ``run`` goes on
from the copy already in memory — no claim, no reload.
"""

from __future__ import annotations

from taiji.platform.db import db, utcnow
from taiji.platform.tx.engine import Executor, Progress, new_owner, run
from taiji.platform.tx.models import ACTIVE_STATES, SAGA
from taiji.platform.tx.state import BRANCHES, TRANSACTIONS, Row


def start(kind: str, specs: list[dict], **submit_args) -> Executor:
    """Submit a saga (``kind="saga"``) or TCC transaction owned by a new engine in this process.

    The transaction is created held by that engine, and its first call is recorded as begun in
    the submit's own commit (this commits the current unit of work): no worker round trip, no
    claim, no reload. ``run(executor)`` then makes the calls. If this process dies before, the
    lease runs out and any engine resumes it; the begun call counts as an UNKNOWN attempt.
    """
    from taiji.platform.tx import services

    owner = new_owner()
    submit = services.submit_saga if kind == SAGA else services.submit_tcc
    tx = submit(specs, owner=owner, **submit_args)
    executor = Executor(tx.gid, owner)
    if tx.owner != owner:
        # The gid was submitted before: an ordinary transaction, claimed like any other.
        db.session.commit()
        executor.claim(commit=False)
        return executor
    executor._adopt(Row({c.key: getattr(tx, c.key) for c in TRANSACTIONS.c}),
                    [Row({c.key: getattr(b, c.key) for c in BRANCHES.c}) for b in tx.branches])
    executor._orphans_checked = True  # nothing was ever called
    call_id = getattr(tx, "first_call_id", None)
    if call_id is not None:
        # PostgreSQL: the submit's statement recorded the first call as begun too.
        executor._recorded(call_id)
        if not tx.committed:
            db.session.commit()
        return executor
    executor._fresh = executor._inserted_here = executor.tx.call_seq == 1
    executor.step()
    return executor


def submit_and_run(kind: str, specs: list[dict], **submit_args) -> Progress | None:
    """Submit a transaction and run it here until it waits, finishes or is parked (``start``).

    The fast path for code that owns its unit of work: the platform's own operations, tasks, the
    benchmark. A transaction left waiting for a retry is handed to a worker.
    """
    from taiji.platform.tx import tasks

    executor = start(kind, specs, **submit_args)
    progress = run(executor) if executor.tx is not None else None
    if progress is not None and progress.state in ACTIVE_STATES and progress.next_attempt_at is not None:
        delay = max(0.0, (progress.next_attempt_at - utcnow()).total_seconds())
        if delay <= tasks.COUNTDOWN_LIMIT:
            tasks.enqueue_advance(executor.gid, countdown=delay)
    return progress
