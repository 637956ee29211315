"""Celery tasks of the transaction engine: the timer (``tx.process_due``) and the worker
(``tx.advance``). The timer is a safety net — a transaction is normally advanced as soon as it
is submitted and re-enqueued with the countdown of its next retry — so a lost message, a
crashed worker or a restart delays a transaction by at most one timer period.
"""

from __future__ import annotations

import logging

from taiji.platform.db import after_commit, utcnow
from taiji.platform.tasks import celery
from taiji.platform.tx import engine, messages, notify

log = logging.getLogger("taiji.tx")

# Retries due sooner than this are re-enqueued with a countdown; later ones wait for the timer.
COUNTDOWN_LIMIT = 300.0


def enqueue_advance(gid: str, countdown: float | None = None) -> None:
    """Ask a worker to advance ``gid``; if the broker is away, the timer will find it."""
    try:
        advance.apply_async((gid,), countdown=countdown, retry=False)
    except Exception:
        log.warning("could not enqueue a transaction; the timer will pick it up", exc_info=True,
                    extra={"gid": gid})


@celery.task(name="tx.advance", acks_late=True)
def advance(gid: str) -> str | None:
    """Advance one transaction until it waits, finishes or is parked; re-enqueue a near retry."""
    progress = engine.advance(gid)
    if progress is None:
        return None
    if progress.state in ("running", "redo") and progress.next_attempt_at is not None:
        delay = max(0.0, (progress.next_attempt_at - utcnow()).total_seconds())
        if delay <= COUNTDOWN_LIMIT:
            enqueue_advance(gid, countdown=delay)
    return progress.state


@celery.task(name="tx.process_due", acks_late=True)
def process_due() -> int:
    """Hand every due, unowned transaction to a worker (scheduled every few seconds)."""
    gids = engine.due()
    notify.recover_abandoned()
    nids = notify.due()
    mids = messages.due()

    def dispatch() -> None:
        for gid in gids:
            enqueue_advance(gid)
        for nid in nids:
            enqueue_notification(nid)
        for mid in mids:
            enqueue_check(mid)

    after_commit(dispatch)
    return len(gids)


def enqueue_notification(nid: str, countdown: float | None = None) -> None:
    """Ask a worker to attempt notification ``nid``; if the broker is away, the timer will find it."""
    try:
        deliver.apply_async((nid,), countdown=countdown, retry=False)
    except Exception:
        log.warning("could not enqueue a notification; the timer will pick it up", exc_info=True,
                    extra={"nid": nid})


@celery.task(name="tx.notify", acks_late=True)
def deliver(nid: str) -> str | None:
    """Make one attempt of a best-effort notification and enqueue the next one if it is near."""
    state = notify.attempt(nid)
    if state == notify.PENDING:
        row = notify.get_any(nid)
        delay = max(0.0, (row.next_attempt_at - utcnow()).total_seconds())
        if delay <= COUNTDOWN_LIMIT:
            enqueue_notification(nid, countdown=delay)
    return state


def enqueue_check(mid: str) -> None:
    """Ask a worker to check a prepared message back; if the broker is away, the timer will."""
    try:
        check_message.apply_async((mid,), retry=False)
    except Exception:
        log.warning("could not enqueue a message check-back", exc_info=True, extra={"mid": mid})


@celery.task(name="tx.message_check", acks_late=True)
def check_message(mid: str) -> str:
    """Ask a participant whether a prepared message's local transaction committed; submit or abort it."""
    return messages.check(mid)
