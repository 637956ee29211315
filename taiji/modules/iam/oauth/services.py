"""The OpenID Connect provider's public face: clients, signing keys, claims, logout, API bearer tokens.

Services flush; the request (or the CLI command) commits.
"""

from __future__ import annotations

import datetime as dt
import secrets
from urllib.parse import urlsplit

import sqlalchemy as sa

from taiji.modules.iam import services as iam
from taiji.modules.iam import sessions as console_sessions
from taiji.platform import audit, auth, tenancy
from taiji.platform.auth import Principal
from taiji.platform.db import Page, db, paginate, utcnow
from taiji.platform.errors import Conflict, Invalid, NotFound, field_error, msg

from . import keys, resources, settings, tokens
from .console import CLIENT_ID as CONSOLE_CLIENT_ID
from .models import OAuthClient, OAuthGrant, OAuthToken, SigningKey
from .scopes import DEFAULT_CLIENT_SCOPE, api_permissions, digest, scope_list, unknown_scopes
from .server import forget_clients

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
DEFAULT_GRANTS = ["authorization_code", "refresh_token"]
CLIENT_ID_PREFIX = "tjc_"
SECRET_PREFIX = "tjs_"  # noqa: S105 - a marker that makes leaked secrets recognisable, not a secret
TENANTS_CLAIM = "https://taiji.dev/tenants"
ROLES_CLAIM = "https://taiji.dev/roles"


# -- clients -----------------------------------------------------------------------------------


def _check_uri(field: str, uri: str) -> str:
    uri = (uri or "").strip()
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or (parts.scheme in ("http", "https") and not parts.netloc):
        raise field_error(field, msg("'%(uri)s' is not an absolute URI without a fragment.", uri=uri))
    if parts.scheme not in ("http", "https") and "." not in parts.scheme:
        # RFC 8252 §7.1: native apps use private-use schemes in reverse-domain form (com.example.app:/cb).
        raise field_error(field, msg("'%(uri)s' must use http, https or a reverse-domain private scheme.",
                                     uri=uri))
    return uri


def check_resource(field: str, uri: str | None) -> str | None:
    """A resource indicator (RFC 8707 §2): an absolute http(s) URI without a fragment."""
    uri = (uri or "").strip()
    if not uri:
        return None
    why = resources.problem(uri)
    if why:
        raise field_error(field, msg("A resource indicator %(why)s.", why=why))
    return uri


def _claim_resource(resource: str | None, client: OAuthClient | None = None) -> str | None:
    """Check that no other client (nor Taiji's own API) already serves ``resource``."""
    resource = check_resource("resource", resource)
    if resource is None:
        return None
    if resource == settings.api_resource():
        raise Conflict(msg("'%(resource)s' is Taiji's own API.",
                           resource=resource), errors={"json": {"resource": [msg("Reserved.")]}})
    other = db.session.execute(sa.select(OAuthClient.id).where(OAuthClient.resource == resource)).first()
    if other is not None and (client is None or other[0] != client.id):
        raise Conflict(msg("Another client already serves '%(resource)s'.", resource=resource),
                       errors={"json": {"resource": [msg("Already registered.")]}})
    return resource


def _check_grants(grant_types: list[str] | None, public: bool) -> list[str]:
    chosen = list(dict.fromkeys(grant_types or DEFAULT_GRANTS))
    unknown = [g for g in chosen if g not in GRANT_TYPES]
    if unknown:
        raise field_error(
            "grant_types", msg("Unknown grant types: %(unknown)s; choose from %(grant_types)s.",
                               unknown=', '.join(unknown), grant_types=', '.join(GRANT_TYPES))
        )
    if public and "client_credentials" in chosen:
        raise field_error(
            "grant_types", msg("A public client has no secret, so it cannot use client_credentials.")
        )
    if "refresh_token" in chosen and "authorization_code" not in chosen:
        raise field_error("grant_types", msg("refresh_token comes with authorization_code."))
    return chosen


def create_client(
    name: str,
    redirect_uris: list[str] | None = None,
    *,
    public: bool = False,
    grant_types: list[str] | None = None,
    scope: str | None = None,
    trusted: bool = False,
    post_logout_redirect_uris: list[str] | None = None,
    created_by_id: int | None = None,
    can_introspect: bool = False,
    resource: str | None = None,
) -> tuple[OAuthClient, str | None]:
    """Register a client; the secret (confidential clients) is returned once and stored hashed."""
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise field_error("name", msg("Give the client a name of 1 to 255 characters."))
    chosen = _check_grants(grant_types, public)
    uris = [_check_uri("redirect_uris", u) for u in (redirect_uris or [])]
    if "authorization_code" in chosen and not uris:
        raise field_error("redirect_uris", msg("A client that signs users in needs at least one redirect "
                                               "URI."))
    logout_uris = [_check_uri("post_logout_redirect_uris", u) for u in (post_logout_redirect_uris or [])]
    scope = " ".join(scope_list(scope if scope is not None else DEFAULT_CLIENT_SCOPE))
    if unknown_scopes(scope):
        raise field_error("scope", msg("Unknown scopes: %(scope)s.", scope=', '.join(unknown_scopes(scope))))
    resource = _claim_resource(resource)
    if (can_introspect or resource) and public:
        raise field_error("can_introspect" if can_introspect else "resource",
                          msg("A public client has no secret, so it cannot introspect tokens."))
    client = OAuthClient(
        client_id=CLIENT_ID_PREFIX + secrets.token_hex(12),
        name=name,
        is_public=public,
        trusted=trusted,
        redirect_uris=list(dict.fromkeys(uris)),
        post_logout_redirect_uris=list(dict.fromkeys(logout_uris)),
        grant_types=chosen,
        scope=scope,
        created_by_id=created_by_id,
        can_introspect=bool(can_introspect),
        resource=resource,
    )
    secret = None if public else _set_secret(client)
    db.session.add(client)
    db.session.flush()
    audit.record(
        "iam.oauth.client_created",
        "oauth_client",
        client.client_id,
        details={"name": name, "public": public, "grant_types": chosen, "trusted": trusted,
                 "can_introspect": bool(can_introspect), "resource": resource},
    )
    return client, secret


def _set_secret(client: OAuthClient) -> str:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    client.secret_hash = digest(secret)
    client.secret_prefix = secret[:10]
    return secret


def list_clients(*, page: int = 1, page_size: int = 20) -> Page[OAuthClient]:
    """Registered clients, without the console's own (the platform manages that one)."""
    return paginate(sa.select(OAuthClient).where(OAuthClient.client_id != CONSOLE_CLIENT_ID)
                    .order_by(OAuthClient.name, OAuthClient.id), page, page_size)


def get_client(client_id: str) -> OAuthClient:
    client = db.session.execute(
        sa.select(OAuthClient).where(OAuthClient.client_id == client_id,
                                     OAuthClient.client_id != CONSOLE_CLIENT_ID)
    ).scalar_one_or_none()
    if client is None:
        raise NotFound(msg("No OAuth client '%(client_id)s'.", client_id=client_id))
    return client


def rotate_client_secret(client_id: str) -> tuple[OAuthClient, str]:
    """Replace a confidential client's secret; the old one stops working at once."""
    client = get_client(client_id)
    if client.is_public:
        raise Invalid(msg("A public client has no secret to rotate."))
    secret = _set_secret(client)
    audit.record("iam.oauth.client_secret_rotated", "oauth_client", client.client_id)
    db.session.flush()
    forget_clients()
    return client, secret


def update_client(client_id: str, data: dict) -> OAuthClient:
    """Change a client's name, URIs, scopes, grants or enabled flag (what ``data`` names).

    Disabling also revokes every grant the client holds: its refresh tokens stop at once and the
    access tokens of those grants become inactive at introspection and at the Taiji API.
    """
    client = get_client(client_id)
    if "name" in data:
        name = (data["name"] or "").strip()
        if not name or len(name) > 255:
            raise field_error("name", msg("Give the client a name of 1 to 255 characters."))
        client.name = name
    grants = client.grant_types
    if "grant_types" in data:
        grants = _check_grants(data["grant_types"], client.is_public)
    if "redirect_uris" in data:
        uris = (_check_uri("redirect_uris", u) for u in data["redirect_uris"])
        client.redirect_uris = list(dict.fromkeys(uris))
    if "authorization_code" in grants and not client.redirect_uris:
        raise field_error("redirect_uris", msg("A client that signs users in needs at least one redirect "
                                               "URI."))
    client.grant_types = grants
    if "post_logout_redirect_uris" in data:
        client.post_logout_redirect_uris = list(dict.fromkeys(
            _check_uri("post_logout_redirect_uris", u) for u in data["post_logout_redirect_uris"]))
    if "scope" in data:
        scope = " ".join(scope_list(data["scope"]))
        if unknown_scopes(scope):
            raise field_error("scope", msg("Unknown scopes: %(scope)s.",
                                           scope=', '.join(unknown_scopes(scope))))
        client.scope = scope
    if "trusted" in data:
        client.trusted = bool(data["trusted"])
    if "resource" in data:
        client.resource = _claim_resource(data["resource"], client)
    if "can_introspect" in data:
        client.can_introspect = bool(data["can_introspect"])
    if client.is_public and (client.can_introspect or client.resource):
        raise field_error("can_introspect", msg("A public client has no secret, so it cannot introspect "
                                                "tokens."))
    if "enabled" in data and bool(data["enabled"]) != client.enabled:
        client.enabled = bool(data["enabled"])
        if not client.enabled:
            families = db.session.execute(
                sa.select(OAuthGrant.family).where(OAuthGrant.client_pk == client.id,
                                                   OAuthGrant.revoked_at.is_(None))).scalars().all()
            for family in families:
                tokens.revoke_family(family, "client disabled")
    audit.record("iam.oauth.client_updated", "oauth_client", client.client_id,
                 details={k: v for k, v in data.items() if k != "client_secret"})
    db.session.flush()
    forget_clients()
    return client


def delete_client(client_id: str) -> None:
    """Remove a client with its grants and refresh tokens; its access tokens stop working at Taiji."""
    client = get_client(client_id)
    audit.record("iam.oauth.client_deleted", "oauth_client", client.client_id, details={"name": client.name})
    db.session.execute(sa.delete(OAuthToken).where(OAuthToken.client_pk == client.id))
    db.session.execute(sa.delete(OAuthGrant).where(OAuthGrant.client_pk == client.id))
    db.session.delete(client)
    db.session.flush()
    forget_clients()


# -- signing keys ------------------------------------------------------------------------------


def rotate_signing_key(delay: int | None = None) -> SigningKey:
    """Publish a new signing key; it signs after ``delay`` seconds (default: one access-token lifetime)."""
    row = keys.rotate(delay)
    audit.record(
        "iam.oauth.key_rotated",
        "signing_key",
        row.kid,
        details={"activates_at": row.activates_at.isoformat()},
    )
    return row


def published_keys() -> dict:
    return keys.public_jwks()


# -- claims, sessions, bearer tokens -------------------------------------------------------------


def user_claims(user, scope: str) -> dict:
    """Claims about ``user`` for an id_token or userinfo, limited by the granted scope."""
    scopes = scope_list(scope)
    claims = {"sub": str(user.id)}
    if "email" in scopes:
        claims["email"] = user.email
        # Only what the platform vouches for: relying parties link accounts by verified emails.
        claims["email_verified"] = user.email_verified_at is not None
    if "profile" in scopes:
        claims["name"] = user.name
        claims["preferred_username"] = user.email
        if user.locale:
            claims["locale"] = user.locale.replace("_", "-")
        roles = iam.tenant_ids_of(user.id)
        claims[TENANTS_CLAIM] = [{"slug": t.slug, "role": roles[t.id]} for t in tenancy.tenants_by_ids(roles)]
        claims[ROLES_CLAIM] = ["admin"] if iam.is_platform_admin(user.id) else ["user"]
    return claims


def end_console_session(id_token_claims: dict | None) -> int:
    """RP-initiated logout: revoke the grants of this console session and clear the session.

    Returns how many grants were revoked. The user's other sessions are left alone.
    """
    from flask import session

    sessions = {session.get("oidc_sid")}
    if id_token_claims and id_token_claims.get("sid"):
        sessions.add(id_token_claims["sid"])
    sessions.discard(None)
    families = []
    if sessions:
        families = list(
            db.session.execute(
                sa.select(OAuthGrant.family).where(
                    OAuthGrant.session_id.in_(sessions), OAuthGrant.revoked_at.is_(None)
                )
            ).scalars()
        )
    for family in families:
        tokens.revoke_family(family, "signed out")
    user = console_sessions.idp_user()
    if user is not None:
        audit.record("iam.logout", "user", user.email, actor=user,
                     details={"via": "oidc", "grants_revoked": len(families)})
    # Both sessions of this browser end: the provider's and the console's made under it.
    console_sessions.end_current_session()
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    auth.set_principal(None)
    return len(families)


def principal_from_access_token(token: str) -> Principal | None:
    """A Principal for an OAuth access token that carries API scopes (see scopes.py for the rule)."""
    claims = tokens.verify_access_token(token)
    if claims is None or not claims.get(tokens.GRANT_CLAIM):
        return None  # machine (client-credentials) tokens do not act as a user on the Taiji API
    if not tokens.meant_for_taiji_api(claims):
        return None  # a token asked for another resource server is not Taiji's to accept (RFC 9068 §4)
    perms = api_permissions(claims.get("scope"))
    if perms is False:
        return None
    user = iam.get_user(int(claims["sub"]))
    if user is None or not user.is_active:
        return None
    return Principal(
        user_id=user.id,
        email=user.email,
        name=user.name,
        is_admin=iam.is_platform_admin(user.id),
        via="token",
        locale=user.locale,
        scopes=perms,
        client_id=claims.get("client_id"),
        expires_at=_expiry(claims),
    )


def _expiry(claims: dict) -> dt.datetime | None:
    exp = claims.get("exp")
    return dt.datetime.fromtimestamp(exp, dt.UTC) if isinstance(exp, int | float) else None


def wrap_bearer_loader(inner):
    """Extend the registered bearer loader (personal access tokens) with OAuth access tokens."""
    if getattr(inner, "_taiji_oauth", False):
        return inner

    def load(token: str) -> Principal | None:
        if token.startswith(iam.TOKEN_PREFIX):
            return inner(token) if inner is not None else None
        return principal_from_access_token(token)

    load._taiji_oauth = True
    return load


def prune_expired() -> int:
    """Delete spent codes' grants and refresh tokens past their lifetime; returns rows removed."""
    now = utcnow()
    removed = db.session.execute(sa.delete(OAuthToken).where(OAuthToken.expires_at < now)).rowcount
    live_families = sa.select(OAuthToken.family).where(OAuthToken.family.is_not(None))
    removed += db.session.execute(
        sa.delete(OAuthGrant).where(
            OAuthGrant.expires_at < now,
            OAuthGrant.family.not_in(live_families),
            OAuthGrant.created_at < now - keys.retention(),
        )
    ).rowcount
    return removed
