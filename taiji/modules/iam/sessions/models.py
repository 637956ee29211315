"""Server-side records of console sessions, sign-in throttles and emailed sign-in links."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, intpk, timestamp, utcnow


class SessionKind:
    # The identity provider's session: a browser that signed in at IAM's sign-in page.
    IDP = "idp"
    # The console's own session, made after the console's code exchange; its parent is the IdP session.
    CONSOLE = "console"


class ConsoleSession(Model):
    """One signed-in browser. The cookie carries a random id; only its sha256 is stored here."""

    __tablename__ = "iam_console_session"

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(sa.String(10), default=SessionKind.IDP, server_default=SessionKind.IDP)
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("iam_console_session.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"), index=True)
    id_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    last_seen_at: Mapped[timestamp] = mapped_column(default=utcnow)
    address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))
    revoked_at: Mapped[timestamp | None]


class SignInLock(Model):
    """Failed sign-ins per email typed and client (see lockout.py).

    Keyed by the email typed, not by user, so an unknown address is throttled exactly like a
    real one and the sign-in page never tells which emails have accounts. ``client`` is
    ``addr:<address>``, ``device:<id>`` (a browser the account trusts) or ``*`` (failures of
    every untrusted client together).
    """

    __tablename__ = "iam_sign_in_lock"
    __table_args__ = (sa.UniqueConstraint("email", "client"),)

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(sa.String(255), index=True)
    client: Mapped[str] = mapped_column(sa.String(100), default="*", server_default="*")
    failures: Mapped[int] = mapped_column(default=0)
    # How many times the pair has been throttled since its last successful sign-in: the back-off step.
    lockouts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[timestamp | None]
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow, onupdate=utcnow)


class SignInLink(Model):
    """A link sent by email (``links.py``): a sign-in link, whose opening makes the browser one
    the account trusts, or a link that proves the account's owner receives mail at ``email``.

    Only the sha256 of the link's token is stored; a link works once, for a short while.
    """

    __tablename__ = "iam_sign_in_link"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    expires_at: Mapped[timestamp]
    used_at: Mapped[timestamp | None]
    address: Mapped[str | None] = mapped_column(sa.String(64))
    purpose: Mapped[str] = mapped_column(sa.String(20), default="sign-in", server_default="sign-in")
    # The address the link was mailed to: it proves nothing for another one the account has since.
    email: Mapped[str | None] = mapped_column(sa.String(255))
