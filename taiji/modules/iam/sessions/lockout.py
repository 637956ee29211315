"""Account lockout with growing back-off after repeated failed sign-ins.

State is kept per email typed (see SignInLock), so unknown addresses behave exactly like real ones.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db, utcnow
from taiji.platform.errors import ServiceError

from .models import SignInLock

THRESHOLD = 5
# Minutes locked at the first, second and any later lockout since the last successful sign-in.
BACKOFF_MINUTES = (1, 5, 15)


class Locked(ServiceError):
    """Sign-in refused because the email is locked until ``until``."""

    status = 429

    def __init__(self, until: dt.datetime):
        super().__init__(f"Too many failed sign-ins; locked until {until.isoformat()}.")
        self.until = until


def _row(email: str) -> SignInLock | None:
    return db.session.execute(sa.select(SignInLock).where(SignInLock.email == email)).scalar_one_or_none()


def locked_until(email: str) -> dt.datetime | None:
    """When the lock on this email ends, or None if it is not locked now."""
    row = _row(email)
    if row is None or row.locked_until is None or row.locked_until <= utcnow():
        return None
    return row.locked_until


def register_failure(email: str) -> dt.datetime | None:
    """Count a failed sign-in; returns the end of the lock when this failure locks the email."""
    row = _row(email)
    now = utcnow()
    if row is None:
        row = SignInLock(email=email, failures=0, lockouts=0)
        db.session.add(row)
    if row.locked_until is not None and row.locked_until <= now:
        row.failures, row.locked_until = 0, None  # the previous lock has run out: count afresh
    row.failures += 1
    if row.failures < THRESHOLD:
        db.session.flush()
        return None
    minutes = BACKOFF_MINUTES[min(row.lockouts, len(BACKOFF_MINUTES) - 1)]
    row.lockouts += 1
    row.locked_until = now + dt.timedelta(minutes=minutes)
    audit.record("iam.login.locked", "user", email,
                 details={"minutes": minutes, "lockouts": row.lockouts, "failures": row.failures})
    db.session.flush()
    return row.locked_until


def clear(email: str) -> None:
    """A successful sign-in forgets the failures and the back-off step."""
    db.session.execute(sa.delete(SignInLock).where(SignInLock.email == email))


def unlock(email: str) -> bool:
    """An administrator lifts a lock; returns whether there was one."""
    if locked_until(email) is None:
        return False
    clear(email)
    audit.record("iam.user.unlocked", "user", email)
    db.session.flush()
    return True


def locks_for(emails) -> dict[str, dt.datetime]:
    """email -> end of the lock, for those of ``emails`` locked now (the users page)."""
    emails = list(emails)
    if not emails:
        return {}
    rows = db.session.execute(
        sa.select(SignInLock.email, SignInLock.locked_until)
        .where(SignInLock.email.in_(emails), SignInLock.locked_until > utcnow())
    ).all()
    return dict(rows)
