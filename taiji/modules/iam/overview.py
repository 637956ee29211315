"""What the tenant overview shows of IAM (``taiji.platform.overview``): the caller's personal access
tokens that expire within a week, so they can be replaced before the programs using them stop."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _

from taiji.platform.db import db, utcnow
from taiji.platform.overview import Attention, Row

from .models import PersonalAccessToken

SOON = dt.timedelta(days=7)


def expiring_tokens(user_id: int, within: dt.timedelta = SOON) -> list[PersonalAccessToken]:
    """The user's live tokens whose expiry is within ``within``, soonest first."""
    now = utcnow()
    return list(db.session.execute(
        sa.select(PersonalAccessToken)
        .where(PersonalAccessToken.user_id == user_id, PersonalAccessToken.revoked_at.is_(None),
               PersonalAccessToken.expires_at.is_not(None), PersonalAccessToken.expires_at > now,
               PersonalAccessToken.expires_at <= now + within)
        .order_by(PersonalAccessToken.expires_at)).scalars())


def attention(tenant, principal) -> list[Row]:
    if principal is None or principal.user_id is None:
        return []
    return [Row(_("Your token %(name)s expires soon.", name=token.name), url_for("iam.tokens"),
                status=_("Expires soon"), tone="yellow", when=token.expires_at)
            for token in expiring_tokens(principal.user_id)]


OVERVIEW = [Attention("iam.expiring_tokens", attention, order=30)]
