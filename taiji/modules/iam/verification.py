"""Whether an account's email address is proven to be its owner's (``User.email_verified_at``).

Anyone who can make an account for an address (through an invitation link its inviter was
handed, say) could otherwise hold that address before its owner arrives and collect what is
addressed to it: invitations to other tenants, "email" claims to relying parties. An address
counts as verified when

- a platform administrator made the account or marked the address verified (``mark_verified``),
- the account's owner opened a link mailed to it while signed in to the account (``send_link``
  and ``confirm``: the mailbox and the account are in the same hands), or the account was made
  through, or accepted, an invitation whose link only went by mail (TM calls ``mark_verified``),
- a directory made the account in an email domain its tenant has verified (``directory``).

Changing the address clears the flag (``models.User``).
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import gettext as _

from taiji.platform import audit, mail, ratelimit
from taiji.platform.db import db, utcnow
from taiji.platform.errors import Conflict, Forbidden, NotFound, ServiceError, msg

from .models import User
from .sessions import links

TTL = dt.timedelta(hours=24)
# Per address: enough for a person who lost a mail, too few to flood the mailbox of an address
# someone else's account claims.
PER_ADDRESS = "5 per hour"


class TooManyMails(ServiceError):
    status = 429
    title = "Too Many Requests"


class AlreadyVerified(Conflict):
    pass


class NoMail(Conflict):
    """No mail server: only a platform administrator can vouch for the address."""


def mark_verified(user: User, method: str, *, actor=None) -> bool:
    """Vouch for the user's address (``method``: admin, mail, invitation, directory); audited.
    Returns whether it changed."""
    if user.email_verified_at is not None:
        return False
    user.email_verified_at = utcnow()
    audit.record("iam.user.email_verified", "user", user.email, details={"method": method}, actor=actor)
    db.session.flush()
    return True


def send_link(user: User) -> None:
    """Mail the user a link that verifies their address once opened in their signed-in browser."""
    if user.email_verified_at is not None:
        raise AlreadyVerified(msg("Your email address is already verified."))
    if not mail.configured():
        raise NoMail(msg("This server sends no mail (no mail server is configured), so it cannot verify "
                         "your email address. Ask a platform administrator to verify it."))
    if not ratelimit.hit(PER_ADDRESS, "iam-verify-email", user.email):
        raise TooManyMails(msg("Verification mails were sent to this address several times in the last "
                               "hour; use the latest one or try again later."))
    token = links.issue(user, links.VERIFY_EMAIL, TTL)
    link = f"{current_app.config['BASE_URL']}/profile/email/verify/{token}"
    body = _("Someone signed in to the Taiji account %(email)s asked to verify that this address "
             "belongs to them.\n\n"
             "If that account is yours, open this link in the browser where you are signed in to it, "
             "within %(hours)s hours:\n\n"
             "%(link)s\n\n"
             "If you did not make a Taiji account with this address, do not open the link: someone "
             "else may have, and opening it would vouch for them. Tell your Taiji administrator.",
             email=user.email, hours=int(TTL.total_seconds() // 3600), link=link)
    mail.send_after_commit(user.email, _("Verify your email address for Taiji"), body)
    audit.record("iam.user.email_verification_sent", "user", user.email)


def pending(token: str, user: User) -> None:
    """Check, without spending it, that ``token`` is a live verification link of ``user``."""
    row = links.find(token, links.VERIFY_EMAIL)
    if row is None:
        raise NotFound(msg("This link is not valid any more: it was used already, or it is too old. Ask "
                           "for a new one on your profile page."))
    if row.user_id != user.id:
        # Whoever holds the mailbox is not necessarily the account's owner (and the other way
        # round): a link verifies the account it was asked from, opened by that account.
        raise Forbidden(msg("This link was sent for another account. Sign in to the account that asked "
                            "for it, then open the link again."))
    if row.email != user.email:
        raise NotFound(msg("This link was sent to an address the account no longer uses."))


def confirm(token: str, user: User) -> None:
    """Spend the link and vouch for the address (``pending`` says why not)."""
    pending(token, user)
    if links.use(token, links.VERIFY_EMAIL) != user.id:
        raise NotFound(msg("This link is not valid any more: it was used already, or it is too old."))
    mark_verified(user, "mail")
