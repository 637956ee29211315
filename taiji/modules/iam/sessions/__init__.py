"""Console sessions kept on the server, so a user or an administrator can end one at once.

The signed cookie carries a random session id; the table keeps only its sha256. A new id is
issued at every sign-in (so an id planted before sign-in is worthless), and a revoked or
missing record signs the browser out on its next request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db, utcnow
from taiji.platform.errors import NotFound

from .models import ConsoleSession, SignInLock

__all__ = ["ConsoleSession", "SignInLock", "end_current_session", "is_live", "list_sessions", "open_session",
           "revoke_all", "revoke_session"]

SESSION_KEY = "sid"
# last_seen is written at most this often, so browsing does not turn every page view into a write.
_TOUCH_EVERY = dt.timedelta(minutes=1)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def open_session(user) -> str:
    """Record a new console session for ``user``; returns the raw id to keep in the signed cookie."""
    from flask import has_request_context, request

    raw = secrets.token_urlsafe(32)
    address = agent = None
    if has_request_context():
        address = request.remote_addr
        agent = (request.user_agent.string or "")[:255] or None
    db.session.add(ConsoleSession(user_id=user.id, id_hash=_hash(raw), address=address, user_agent=agent))
    db.session.flush()
    return raw


def is_live(raw: str | None, user_id: int) -> bool:
    """Whether the cookie's session id names an unrevoked session of this user (and mark it seen)."""
    if not raw or not isinstance(raw, str):
        return False
    row = db.session.execute(
        sa.select(ConsoleSession).where(ConsoleSession.id_hash == _hash(raw))
    ).scalar_one_or_none()
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        return False
    now = utcnow()
    if now - row.last_seen_at > _TOUCH_EVERY:
        db.session.execute(
            sa.update(ConsoleSession).where(ConsoleSession.id == row.id).values(last_seen_at=now))
    return True


def current_session_id(payload) -> int | None:
    """The table id of the session named by a cookie payload (to mark "this browser" in lists)."""
    raw = payload.get(SESSION_KEY)
    if not raw:
        return None
    return db.session.execute(
        sa.select(ConsoleSession.id).where(ConsoleSession.id_hash == _hash(raw))
    ).scalar_one_or_none()


def end_current_session() -> None:
    """Revoke the record of the browser's own session (sign-out, RP-initiated logout)."""
    from flask import has_request_context, session

    if not has_request_context() or not session.get(SESSION_KEY):
        return
    db.session.execute(
        sa.update(ConsoleSession)
        .where(ConsoleSession.id_hash == _hash(session[SESSION_KEY]), ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def list_sessions(user) -> list[ConsoleSession]:
    """The user's open sessions, most recently used first."""
    return list(db.session.execute(
        sa.select(ConsoleSession)
        .where(ConsoleSession.user_id == user.id, ConsoleSession.revoked_at.is_(None))
        .order_by(ConsoleSession.last_seen_at.desc(), ConsoleSession.id.desc())
    ).scalars())


def revoke_session(user, session_id: int) -> None:
    """End one of the user's sessions; the browser holding it is signed out on its next request."""
    row = db.session.execute(
        sa.select(ConsoleSession).where(ConsoleSession.id == session_id, ConsoleSession.user_id == user.id,
                                        ConsoleSession.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No open session {session_id}.")
    row.revoked_at = utcnow()
    audit.record("iam.session.revoked", "user", user.email,
                 details={"session": row.id, "address": row.address})
    db.session.flush()


def revoke_all(user) -> int:
    """End every session of the user (disable, password change, MFA reset)."""
    result = db.session.execute(
        sa.update(ConsoleSession)
        .where(ConsoleSession.user_id == user.id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount or 0
