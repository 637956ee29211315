"""Links sent by email: single use, short-lived, only their hash stored, each for one purpose.

Sign-in links are the owner's way past a throttle that others' failures raised. Opening the link
(and confirming, so that a mail scanner fetching it does nothing) makes the browser one the
account trusts (``devices.py``); the password is still needed to sign in. Asking for a link
answers the same whether or not the email has an account, and the mail leaves after the answer,
so neither the words nor the time taken tell which emails exist.

The same machinery carries the links that verify an address (``verification.py``): ``issue``,
``find`` and ``use`` with another ``purpose``; a link of one purpose is worthless for another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from flask_babel import gettext as _

from taiji.platform import audit, mail, ratelimit
from taiji.platform.db import db, utcnow

from .models import SignInLink

SIGN_IN = "sign-in"
VERIFY_EMAIL = "verify-email"
TTL = dt.timedelta(minutes=15)
# Per email: enough for a person who lost a mail, too few to flood an inbox.
PER_EMAIL = "5 per hour"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def send_link(user, email: str) -> None:
    """Mail a sign-in link to ``user`` (None: nobody has this email, nothing is sent)."""
    if not ratelimit.hit(PER_EMAIL, "iam-sign-in-link", email):
        audit.record("iam.login.link_throttled", "user", email)
        return
    if user is None or not user.is_active or not mail.configured():
        return
    address = request.remote_addr if has_request_context() else None
    token = issue(user, SIGN_IN, TTL)
    link = f"{current_app.config['BASE_URL']}/login/link/{token}"
    body = _("Someone, hopefully you, asked for a sign-in link for %(email)s from the address "
             "%(address)s.\n\n"
             "Open this link in the browser you want to sign in with, within %(minutes)s minutes:\n\n"
             "%(link)s\n\n"
             "The browser will then be let through although there were many failed sign-ins for your "
             "account; you still sign in with your password.\n\n"
             "If it was not you, ignore this mail: nothing has changed.",
             email=user.email, address=address or "-", minutes=int(TTL.total_seconds() // 60), link=link)
    mail.send_after_commit(user.email, _("Your Taiji sign-in link"), body)
    audit.record("iam.login.link_sent", "user", user.email)


def issue(user, purpose: str, ttl: dt.timedelta) -> str:
    """Record a new link of ``purpose`` for ``user`` at their current email; returns its token,
    to be mailed (only its sha256 is kept)."""
    token = secrets.token_urlsafe(32)
    address = request.remote_addr if has_request_context() else None
    db.session.add(SignInLink(user_id=user.id, purpose=purpose, email=user.email, token_hash=_hash(token),
                              expires_at=utcnow() + ttl, address=address))
    db.session.flush()
    return token


def find(token: str, purpose: str = SIGN_IN) -> SignInLink | None:
    """The unused, unexpired link of ``purpose`` named by ``token``."""
    if not token or len(token) > 200:
        return None
    row = db.session.execute(
        sa.select(SignInLink).where(SignInLink.token_hash == _hash(token),
                                    SignInLink.purpose == purpose)).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def use(token: str, purpose: str = SIGN_IN) -> int | None:
    """Spend the link; the user id it was for, or None when it is unknown, used or expired."""
    row = find(token, purpose)
    if row is None:
        return None
    spent = db.session.execute(
        sa.update(SignInLink).where(SignInLink.id == row.id, SignInLink.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    return row.user_id if spent == 1 else None
