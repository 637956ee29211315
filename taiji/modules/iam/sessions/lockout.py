"""Throttling of failed sign-ins, aimed at the client that fails, never a lock an outsider can put
on someone else's account.

A failed sign-in counts against the pair (email typed, client). The client is the browser's
trusted-device id when that browser has signed in to the account before (``devices.py``), and
its address otherwise. Five failures throttle the pair with growing back-off (1, 5, 15 minutes):
someone hammering an account from one address stops only themselves.

Failures of clients the account does not trust also add up per email (the ``*`` row): at
``ACCOUNT_THRESHOLD`` the account is throttled for untrusted clients, against guessing spread
over many addresses. That throttle never stops the owner, who can still sign in
- from a browser the account trusts (signed in from before, or opened an emailed sign-in link);
- with the password and a code of their authenticator app together, checked at once (so the
  answer never tells an attacker whether the password alone was right).

State is kept per email typed, so unknown addresses behave exactly like real ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from taiji.platform import audit
from taiji.platform.db import db, utcnow
from taiji.platform.errors import ServiceError, msg

from .models import SignInLock

THRESHOLD = 5
ACCOUNT_THRESHOLD = 20
# Minutes throttled at the first, second and any later lock since the last successful sign-in.
BACKOFF_MINUTES = (1, 5, 15)
ACCOUNT = "*"


@dataclass(frozen=True)
class Client:
    """Who is trying: ``key`` is ``addr:<address>`` or ``device:<id>``; ``trusted`` when the
    account has signed in from this browser before."""

    key: str
    trusted: bool = False


class Locked(ServiceError):
    """Sign-in refused until ``until``: for this client (``account`` false), or for every client
    the account does not trust (``account`` true: a second factor or a trusted browser gets in)."""

    status = 429

    def __init__(self, until: dt.datetime, *, account: bool = False):
        super().__init__(msg("Too many failed sign-ins; throttled until %(until)s.", until=until.isoformat()))
        self.until = until
        self.account = account


def _row(email: str, client: str) -> SignInLock | None:
    return db.session.execute(
        sa.select(SignInLock).where(SignInLock.email == email, SignInLock.client == client)
    ).scalar_one_or_none()


def locked_until(email: str, client: str = ACCOUNT) -> dt.datetime | None:
    """When the throttle of (email, client) ends, or None if there is none now."""
    row = _row(email, client[:100])
    if row is None or row.locked_until is None or row.locked_until <= utcnow():
        return None
    return row.locked_until


def check(email: str, client: Client) -> dt.datetime | None:
    """Raise Locked when this client is throttled for ``email``; otherwise the end of an
    account-wide throttle that applies to this (untrusted) client, or None."""
    until = locked_until(email, client.key)
    if until is not None:
        raise Locked(until)
    return None if client.trusted else locked_until(email, ACCOUNT)


def _count(email: str, client: str, threshold: int) -> dt.datetime | None:
    row = _row(email, client)
    now = utcnow()
    if row is None:
        try:
            with db.session.begin_nested():
                row = SignInLock(email=email, client=client, failures=0, lockouts=0)
                db.session.add(row)
        except IntegrityError:  # a failure of the same pair, at the same moment, made the row first
            row = _row(email, client)
    if row.locked_until is not None and row.locked_until <= now:
        row.failures, row.locked_until = 0, None  # the previous throttle has run out: count afresh
    row.failures += 1
    if row.failures < threshold or row.locked_until is not None:
        db.session.flush()
        return None
    minutes = BACKOFF_MINUTES[min(row.lockouts, len(BACKOFF_MINUTES) - 1)]
    row.lockouts += 1
    row.locked_until = now + dt.timedelta(minutes=minutes)
    audit.record("iam.login.locked", "user", email,
                 details={"minutes": minutes, "lockouts": row.lockouts, "failures": row.failures,
                          "client": "account (untrusted clients)" if client == ACCOUNT else client})
    db.session.flush()
    return row.locked_until


def register_failure(email: str, client: Client) -> dt.datetime | None:
    """Count a failed sign-in; returns the end of the throttle when this failure starts one for
    the client."""
    until = _count(email, client.key[:100], THRESHOLD)
    if not client.trusted:
        _count(email, ACCOUNT, ACCOUNT_THRESHOLD)
    return until


def clear(email: str, client: Client) -> None:
    """A successful sign-in forgets this client's failures (not those of others)."""
    db.session.execute(sa.delete(SignInLock).where(SignInLock.email == email,
                                                   SignInLock.client == client.key[:100]))


def unlock(email: str) -> bool:
    """An administrator lifts every throttle on the email; returns whether there was one."""
    if not locks_for([email]):
        return False
    db.session.execute(sa.delete(SignInLock).where(SignInLock.email == email))
    audit.record("iam.user.unlocked", "user", email)
    db.session.flush()
    return True


def locks_for(emails) -> dict[str, dt.datetime]:
    """email -> the latest end of a throttle on it now, for those of ``emails`` throttled (the users page)."""
    emails = list(emails)
    if not emails:
        return {}
    rows = db.session.execute(
        sa.select(SignInLock.email, sa.func.max(SignInLock.locked_until))
        .where(SignInLock.email.in_(emails), SignInLock.locked_until > utcnow())
        .group_by(SignInLock.email)
    ).all()
    return dict(rows)
