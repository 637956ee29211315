"""Access tokens (RS256 JWTs, verifiable offline), refresh tokens (opaque, hashed) and revocation.

Access-token claims: ``iss sub aud exp iat jti scope client_id`` (RFC 9068, header ``typ: at+jwt``;
``aud`` is the resource asked for with RFC 8707's ``resource``, else the client),
plus ``tj_grant`` when the token comes from a user's authorization, so that revoking the grant
(logout, a replayed code, a reused refresh token) makes it inactive at introspection and at the
Taiji API before it expires. Tools that verify offline accept it until ``exp`` (10 minutes).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time

import sqlalchemy as sa
from flask import g, has_request_context
from joserfc import jwt
from joserfc.errors import JoseError

from taiji.platform import audit
from taiji.platform.db import db, utcnow

from . import keys, settings
from .models import OAuthClient, OAuthGrant, OAuthToken, TokenKind
from .scopes import digest

REFRESH_PREFIX = "tj_rt_"
GRANT_CLAIM = "tj_grant"


def issue(client: OAuthClient, user, scope: str, *, family: str | None, include_refresh_token: bool,
          resources: list[str] | None = None) -> dict:
    """A token response body: a signed access token and, if asked, a new refresh token.

    The access token's ``aud`` is the resource indicators asked for (RFC 8707, RFC 9068 §3), or
    the client itself when none was.
    """
    ttl = settings.seconds("OAUTH_ACCESS_TOKEN_TTL")
    now = int(time.time())
    key = keys.signing_key()
    audience: str | list[str] = client.client_id
    if resources:
        audience = resources[0] if len(resources) == 1 else list(resources)
    claims = {
        "iss": settings.issuer(),
        "sub": str(user.id) if user is not None else client.client_id,
        "aud": audience,
        "exp": now + ttl,
        "iat": now,
        "jti": secrets.token_urlsafe(16),
        "scope": scope,
        "client_id": client.client_id,
    }
    if family:
        claims[GRANT_CLAIM] = family
    header = {"alg": keys.ALG, "typ": "at+jwt", "kid": key.kid}
    token = {
        "token_type": "Bearer",
        "access_token": jwt.encode(header, claims, key),
        "expires_in": ttl,
        "scope": scope,
    }
    if include_refresh_token:
        token["refresh_token"] = REFRESH_PREFIX + secrets.token_urlsafe(32)
    return token


def store_refresh_token(plaintext: str, client: OAuthClient, user, scope: str, family: str) -> OAuthToken:
    row = OAuthToken(
        kind=TokenKind.REFRESH,
        token_hash=digest(plaintext),
        family=family,
        client_pk=client.id,
        user_id=user.id,
        scope=scope,
        user_epoch=user.session_epoch,
        expires_at=utcnow() + dt.timedelta(seconds=settings.seconds("OAUTH_REFRESH_TOKEN_TTL")),
    )
    db.session.add(row)
    db.session.flush()
    return row


def find_refresh_token(plaintext: str) -> OAuthToken | None:
    if not plaintext.startswith(REFRESH_PREFIX):
        return None
    return db.session.execute(
        sa.select(OAuthToken).where(
            OAuthToken.token_hash == digest(plaintext), OAuthToken.kind == TokenKind.REFRESH
        )
    ).scalar_one_or_none()


def mark_rotated(row: OAuthToken) -> bool:
    """Spend a refresh token; False when another request spent it first."""
    result = db.session.execute(
        sa.update(OAuthToken)
        .where(OAuthToken.id == row.id, OAuthToken.rotated_at.is_(None), OAuthToken.revoked_at.is_(None))
        .values(rotated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def revoke_family(family: str, reason: str) -> None:
    """Revoke a grant and every token issued from it; kept even if the request then fails."""
    now = utcnow()
    db.session.execute(
        sa.update(OAuthGrant)
        .where(OAuthGrant.family == family, OAuthGrant.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(OAuthToken)
        .where(OAuthToken.family == family, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.record("iam.oauth.grant_revoked", "oauth_grant", family, details={"reason": reason})
    if has_request_context():
        # The caller usually answers an error (invalid_grant); the revocation must survive it.
        g.commit_on_error = True


def revoke_access_token(claims: dict) -> None:
    """Remember a revoked access token's jti until it expires."""
    token_hash = digest("jti:" + claims["jti"])
    exists = db.session.execute(sa.select(OAuthToken.id).where(OAuthToken.token_hash == token_hash)).first()
    if exists is not None:
        return
    client = db.session.execute(
        sa.select(OAuthClient).where(OAuthClient.client_id == claims.get("client_id"))
    ).scalar_one_or_none()
    if client is None:
        return
    now = utcnow()
    db.session.add(
        OAuthToken(
            kind=TokenKind.ACCESS,
            token_hash=token_hash,
            family=claims.get(GRANT_CLAIM),
            client_pk=client.id,
            # Only tokens of a user's grant carry tj_grant; a machine token's sub is its client.
            user_id=int(claims["sub"]) if claims.get(GRANT_CLAIM) else None,
            scope=claims.get("scope") or "",
            issued_at=now,
            revoked_at=now,
            expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
        )
    )
    db.session.flush()


def decode_access_token(token: str) -> dict | None:
    """The claims of a Taiji access token whose signature, issuer, type and expiry are valid."""
    if token.count(".") != 2:
        return None
    try:
        decoded = jwt.decode(token, keys.verification_keys(), algorithms=[keys.ALG])
    except (JoseError, ValueError, KeyError, TypeError):
        return None
    if str(decoded.header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        return None  # an id_token is not an access token
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": settings.issuer()},
        exp={"essential": True},
        jti={"essential": True},
        sub={"essential": True},
    )
    try:
        registry.validate(decoded.claims)
    except JoseError:
        return None
    return dict(decoded.claims)


def is_revoked(claims: dict) -> bool:
    """Was this access token revoked, alone or with its grant? (One round trip.)"""
    jti_revoked = sa.select(OAuthToken.id).where(
        OAuthToken.token_hash == digest("jti:" + str(claims.get("jti")))).exists()
    family = claims.get(GRANT_CLAIM)
    if not family:
        return bool(db.session.execute(sa.select(jti_revoked)).scalar())
    grant = sa.select(OAuthGrant.revoked_at).where(OAuthGrant.family == family)
    revoked, grant_gone, grant_revoked = db.session.execute(
        sa.select(jti_revoked, ~grant.exists(), grant.where(OAuthGrant.revoked_at.is_not(None)).exists())
    ).one()
    # A grant that is gone (its client deleted) revokes what it issued, like a revoked one.
    return bool(revoked or grant_gone or grant_revoked)


def audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def meant_for_taiji_api(claims: dict) -> bool:
    """Taiji's API accepts tokens asked for it (``resource=<base>/api``) and, as before resource
    indicators, tokens whose audience is the client that holds them (none was asked for)."""
    aud = audiences(claims)
    return settings.api_resource() in aud or aud == [claims.get("client_id")]


def verify_access_token(token: str) -> dict | None:
    """Claims of a valid, unrevoked access token, else None."""
    claims = decode_access_token(token)
    if claims is None or is_revoked(claims):
        return None
    return claims
