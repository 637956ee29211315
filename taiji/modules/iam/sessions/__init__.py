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
from taiji.platform.errors import NotFound, msg

from .models import ConsoleSession, SessionKind, SignInLock

__all__ = ["ConsoleSession", "SessionKind", "SignInLock", "end_current_session", "idp_user", "is_live",
           "list_sessions", "open_session", "revoke_all", "revoke_session", "start_console_session",
           "start_idp_session"]

SESSION_KEY = "sid"  # the console's session
IDP_SESSION_KEY = "idp_sid"  # the identity provider's session in the same browser
# last_seen is written at most this often, so browsing does not turn every page view into a write.
_TOUCH_EVERY = dt.timedelta(minutes=1)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def open_session(user, *, kind: str = SessionKind.IDP, parent: str | None = None) -> str:
    """Record a new session for ``user``; returns the raw id to keep in the signed cookie.

    ``parent`` is the raw id of the IdP session a console session was made under: ending the
    IdP session (sign-out, "revoke" on the sessions page) ends the console session with it.
    """
    from flask import has_request_context, request

    raw = secrets.token_urlsafe(32)
    address = agent = None
    if has_request_context():
        address = request.remote_addr
        agent = (request.user_agent.string or "")[:255] or None
    parent_id = _id_of(parent) if parent else None
    db.session.add(ConsoleSession(user_id=user.id, id_hash=_hash(raw), address=address, user_agent=agent,
                                  kind=kind, parent_id=parent_id))
    db.session.flush()
    return raw


def _id_of(raw: str | None) -> int | None:
    if not raw or not isinstance(raw, str):
        return None
    return db.session.execute(
        sa.select(ConsoleSession.id).where(ConsoleSession.id_hash == _hash(raw))
    ).scalar_one_or_none()


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
        # The sessions page lists the browser's sign-in (the IdP record): it is seen when the console is.
        touched = [row.id] + ([row.parent_id] if row.parent_id else [])
        db.session.execute(
            sa.update(ConsoleSession).where(ConsoleSession.id.in_(touched)).values(last_seen_at=now))
    return True


def current_session_id(payload) -> int | None:
    """The table id of the browser's sign-in named by a cookie payload (to mark "this browser")."""
    return _id_of(payload.get(IDP_SESSION_KEY))


def _revoke_with_children(ids: list[int]) -> None:
    if not ids:
        return
    db.session.execute(
        sa.update(ConsoleSession)
        .where(sa.or_(ConsoleSession.id.in_(ids), ConsoleSession.parent_id.in_(ids)),
               ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def end_current_session(*, idp: bool = True) -> None:
    """Revoke the records of the browser's console session and (``idp``) its IdP session."""
    from flask import has_request_context, session

    if not has_request_context():
        return
    ids = [_id_of(session.get(SESSION_KEY))]
    if idp:
        ids.append(_id_of(session.get(IDP_SESSION_KEY)))
    _revoke_with_children([i for i in ids if i is not None])


def list_sessions(user) -> list[ConsoleSession]:
    """The user's open sessions, most recently used first."""
    # One row per browser sign-in: the IdP session (the console session made under it goes with it).
    return list(db.session.execute(
        sa.select(ConsoleSession)
        .where(ConsoleSession.user_id == user.id, ConsoleSession.revoked_at.is_(None),
               ConsoleSession.kind == SessionKind.IDP)
        .order_by(ConsoleSession.last_seen_at.desc(), ConsoleSession.id.desc())
    ).scalars())


def revoke_session(user, session_id: int) -> None:
    """End one of the user's sessions; the browser holding it is signed out on its next request."""
    row = db.session.execute(
        sa.select(ConsoleSession).where(ConsoleSession.id == session_id, ConsoleSession.user_id == user.id,
                                        ConsoleSession.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No open session %(session_id)s.", session_id=session_id))
    _revoke_with_children([row.id])
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


# -- the two sessions of one browser -------------------------------------------------------------
# The identity provider's session (who signed in at IAM's sign-in page) and the console's session
# (made by the console after its code exchange) share the signed cookie under separate keys and
# have separate server-side records: the console can sign out alone, the IdP session ends both.

CONSOLE_KEYS = ("uid", "epoch", SESSION_KEY, "id_token")
IDP_KEYS = ("idp_uid", "idp_epoch", IDP_SESSION_KEY, "oidc_sid", "idp_at")
# Kept across a sign-in: the language, and the console's pending authorization request.
_KEPT = ("locale", "console_flow")


def start_idp_session(user) -> None:
    """Sign ``user`` in at the identity provider, with a fresh cookie and server-side record."""
    from flask import session

    kept = {k: session[k] for k in _KEPT if k in session}
    session.clear()
    session.update(kept)
    session.update({
        "idp_uid": user.id,
        "idp_epoch": user.session_epoch,
        IDP_SESSION_KEY: open_session(user, kind=SessionKind.IDP),
        # The public session id put in id_tokens (``sid``); logout revokes the grants made under it.
        "oidc_sid": secrets.token_urlsafe(16),
        "idp_at": int(utcnow().timestamp()),
    })
    session.permanent = True


def idp_user():
    """The user signed in at the identity provider in this browser, or None (stale keys are dropped)."""
    from flask import has_request_context, session

    from ..models import User

    if not has_request_context() or session.get("idp_uid") is None:
        return None
    user = db.session.get(User, session["idp_uid"])
    if (user is None or not user.is_active or user.session_epoch != session.get("idp_epoch")
            or not is_live(session.get(IDP_SESSION_KEY), user.id)):
        for key in IDP_KEYS + CONSOLE_KEYS:
            session.pop(key, None)
        return None
    return user


def start_console_session(user, id_token: str | None = None) -> None:
    """Open the console's own session under the browser's IdP session (a new id every time)."""
    from flask import session

    for key in CONSOLE_KEYS:
        session.pop(key, None)
    session.update({"uid": user.id, "epoch": user.session_epoch,
                    SESSION_KEY: open_session(user, kind=SessionKind.CONSOLE,
                                              parent=session.get(IDP_SESSION_KEY))})
    if id_token:
        session["id_token"] = id_token  # the id_token_hint of the console's sign-out
    session.permanent = True


def drop_console_keys() -> None:
    from flask import session

    for key in CONSOLE_KEYS:
        session.pop(key, None)
