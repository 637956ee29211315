"""Forgotten passwords: a link mailed to the account's address sets a new one.

Asking answers the same whether or not the address has an account (and the mail leaves after the
answer, ``mail.send_after_commit``), so the page tells nobody which addresses exist. Asking is
limited per address asked for and per client address. The link is single use, expires after
``TAIJI_PASSWORD_RESET_TTL`` seconds (an hour by default), and only its sha256 is stored
(``sessions/links.py``, purpose "reset-password"); a link of another purpose is worthless here.
Setting the new password follows the password policy, ends every console session of the account
and spends every other reset link of it; personal access tokens stay (they are listed on the
tokens page, where their owner can revoke them), and two-factor authentication still applies at
the next sign-in. An account whose password an upstream directory checks has no Taiji password
to reset: it is sent nothing.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from flask_babel import gettext as _

from taiji.platform import audit, mail, ratelimit
from taiji.platform.db import db, utcnow
from taiji.platform.errors import NotFound, msg

from . import services
from . import sessions as console_sessions
from .models import User
from .sessions import links
from .sessions.models import SignInLink

PURPOSE = "reset-password"
PER_EMAIL = "3 per hour"  # enough for a lost mail, too few to flood a mailbox
PER_CLIENT = "20 per hour"  # one address asking for many accounts


class InvalidLink(NotFound):
    """Unknown, used or expired."""


def ttl() -> dt.timedelta:
    return dt.timedelta(seconds=int(current_app.config.get("PASSWORD_RESET_TTL") or 3600))


def request_reset(email: str) -> None:
    """Mail a reset link to the account using ``email``, if there is one that has a Taiji password
    and is active; otherwise (and when asked too often) do nothing. Never says which."""
    email = (email or "").replace("\x00", "").strip().lower()[:255]
    client = request.remote_addr if has_request_context() else "-"
    if not ratelimit.hit(PER_CLIENT, "iam-password-reset-client", client or "-") \
            or not ratelimit.hit(PER_EMAIL, "iam-password-reset", email):
        audit.record("iam.user.password_reset_throttled", "user", email)
        return
    user = services.get_user_by_email(email)
    if user is None or not user.is_active or user.password_hash is None or not mail.configured():
        return
    token = links.issue(user, PURPOSE, ttl())
    link = f"{current_app.config['BASE_URL']}/login/reset/{token}"
    minutes = int(ttl().total_seconds() // 60)
    body = _("Someone, hopefully you, asked to set a new password for the Taiji account %(email)s "
             "from the address %(address)s.\n\n"
             "To choose a new password, open this link within %(minutes)s minutes; it works once:\n\n"
             "%(link)s\n\n"
             "Setting a new password signs you out everywhere. Your personal access tokens keep working; "
             "revoke them on your tokens page if you think someone else knows them.\n\n"
             "If it was not you, ignore this mail: your password has not changed.",
             email=user.email, address=client or "-", minutes=minutes, link=link)
    mail.send_after_commit(user.email, _("Set a new Taiji password"), body)
    audit.record("iam.user.password_reset_requested", "user", user.email, actor=None)


def pending(token: str) -> User:
    """The account a live reset link is for (``InvalidLink`` when it is unknown, used or expired)."""
    row = links.find(token, PURPOSE)
    user = services.get_user(row.user_id) if row is not None else None
    if user is None or not user.is_active or row.email != user.email:
        raise InvalidLink(msg("This link is not valid any more: it was used already, or it is too old. "
                              "Ask for a new one."))
    return user


def reset(token: str, password: str) -> User:
    """Set the new password (the policy applies) and spend the link; ends every session."""
    user = pending(token)
    services.set_password(user, password)  # refuses a weak password before the link is spent
    if links.use(token, PURPOSE) != user.id:
        raise InvalidLink(msg("This link is not valid any more: it was used already, or it is too old. "
                              "Ask for a new one."))
    db.session.execute(sa.update(SignInLink).where(
        SignInLink.user_id == user.id, SignInLink.purpose == PURPOSE, SignInLink.used_at.is_(None),
    ).values(used_at=utcnow()))
    console_sessions.revoke_all(user)
    audit.record("iam.user.password_reset", "user", user.email, actor=user)
    return user
