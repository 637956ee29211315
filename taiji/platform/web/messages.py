"""Console wording for rules that services enforce in English.

Services raise ``ServiceError`` with English details meant for API clients; the console
shows people the same rule in their own language, worded here once for every module.
"""

from __future__ import annotations

from flask_babel import gettext as _

from taiji.platform.web.text import amount

MIN_PASSWORD_LENGTH = 10


def password_problem(password: str | None) -> str:
    """Why a password was refused, in the user's language."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        return _("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH)
    return _("This password is too easy to guess; mix more kinds of characters.")


def quota_problem(error) -> str:
    """A tenant hit a quota: what happened and what to do."""
    return _("The tenant has reached its %(quota)s quota (%(used)s of %(limit)s). Remove unused ones "
             "or ask a platform administrator to raise the limit.",
             quota=str(error.meter.label), used=amount(error.used, error.meter.unit),
             limit=amount(error.limit, error.meter.unit))
