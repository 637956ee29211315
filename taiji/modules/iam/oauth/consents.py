"""Remembered consent: a third-party client asks a user once per set of scopes.

An authorization asking for a subset of what the user already approved for that client skips the
consent page. Revoking a consent also ends the refresh tokens the client holds for the user.
"""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db, utcnow
from taiji.platform.errors import NotFound, msg

from . import tokens
from .models import OAuthClient, OAuthConsent, OAuthGrant
from .scopes import scope_list


def _row(user_id: int, client_pk: int) -> OAuthConsent | None:
    return db.session.execute(
        sa.select(OAuthConsent).where(OAuthConsent.user_id == user_id, OAuthConsent.client_pk == client_pk)
    ).scalar_one_or_none()


def covers(user, client: OAuthClient, scope: str | None) -> bool:
    """Did ``user`` already approve every scope asked for this client?"""
    row = _row(user.id, client.id)
    return row is not None and set(scope_list(scope)) <= set(scope_list(row.scope))


def remember(user, client: OAuthClient, scope: str | None) -> OAuthConsent:
    """Record an approval; scopes add up, so a later subset needs no new question."""
    row = _row(user.id, client.id)
    asked = scope_list(scope)
    if row is None:
        row = OAuthConsent(user_id=user.id, client_pk=client.id, scope=" ".join(asked))
        db.session.add(row)
    else:
        row.scope = " ".join(dict.fromkeys(scope_list(row.scope) + asked))
        row.updated_at = utcnow()
    audit.record("iam.oauth.consent_granted", "oauth_client", client.client_id,
                 details={"scope": " ".join(asked), "user": user.email}, actor=user)
    db.session.flush()
    return row


def list_for(user) -> list[tuple[OAuthConsent, OAuthClient]]:
    """The user's remembered consents with their clients, by client name."""
    return list(db.session.execute(
        sa.select(OAuthConsent, OAuthClient)
        .join(OAuthClient, OAuthClient.id == OAuthConsent.client_pk)
        .where(OAuthConsent.user_id == user.id)
        .order_by(OAuthClient.name, OAuthConsent.id)
    ).all())


def revoke(user, consent_id: int) -> int:
    """Forget one consent of ``user`` and revoke that client's grants for them; returns grants ended."""
    found = db.session.execute(
        sa.select(OAuthConsent, OAuthClient)
        .join(OAuthClient, OAuthClient.id == OAuthConsent.client_pk)
        .where(OAuthConsent.id == consent_id, OAuthConsent.user_id == user.id)
    ).first()
    if found is None:
        raise NotFound(msg("No consent %(consent_id)s.", consent_id=consent_id))
    row, client = found
    families = list(db.session.execute(
        sa.select(OAuthGrant.family).where(OAuthGrant.user_id == user.id, OAuthGrant.client_pk == client.id,
                                           OAuthGrant.revoked_at.is_(None))
    ).scalars())
    for family in families:
        tokens.revoke_family(family, "consent revoked")
    audit.record("iam.oauth.consent_revoked", "oauth_client", client.client_id,
                 details={"user": user.email, "grants_revoked": len(families)}, actor=user)
    db.session.delete(row)
    db.session.flush()
    return len(families)
