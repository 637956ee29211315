"""The Authlib authorization server: grants, PKCE (S256 for every client), OpenID Connect,
introspection, revocation and RP-initiated logout, over Taiji's storage."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa
from authlib.common.security import is_secure_transport
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import (
    InsecureTransportError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import request as flask_request
from flask import session

from taiji.modules.iam import services as iam
from taiji.platform import audit
from taiji.platform.db import db, utcnow

from . import keys, resources, settings, tokens
from .authorization_checks import AuthorizationRequestChecks, S256CodeChallenge
from .models import OAuthClient, OAuthGrant, OAuthToken
from .scopes import digest, printable, scope_list, unknown_scopes

CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_METHODS = [*CONFIDENTIAL_METHODS, "none"]


# Clients are read on every token, introspection and revocation call, and change rarely: each
# process keeps a copy for a few seconds, so a client-credentials grant needs no database round
# trip at all (checkout, ping, BEGIN, SELECT, COMMIT were most of its CPU). Changes made in this
# process drop the copy at once; other processes see them within CLIENT_CACHE_SECONDS.
CLIENT_CACHE_SECONDS = 5.0
_CLIENT_CACHE_MAX = 1000
_clients: dict[str, tuple[float, OAuthClient]] = {}
_COLUMNS = [c.key for c in OAuthClient.__mapper__.column_attrs]


def forget_clients() -> None:
    """Drop the cached copies (after a client changes, or between tests)."""
    _clients.clear()


def _load_client(client_id: str) -> OAuthClient | None:
    row = db.session.execute(
        sa.select(OAuthClient).where(OAuthClient.client_id == client_id, OAuthClient.enabled.is_(True))
    ).scalar_one_or_none()
    if row is None:
        return None
    # A transient copy: safe to share between requests and threads, never flushed by any session.
    return OAuthClient(**{key: getattr(row, key) for key in _COLUMNS})


def query_client(client_id: str | None) -> OAuthClient | None:
    if not client_id or len(client_id) > 64:
        return None
    cached = _clients.get(client_id)
    now = time.monotonic()
    if cached is not None and now - cached[0] < CLIENT_CACHE_SECONDS:
        return cached[1]
    client = _load_client(client_id)
    if client is not None:
        if len(_clients) >= _CLIENT_CACHE_MAX:
            _clients.clear()
        _clients[client_id] = (now, client)
    return client


def _save_token(token: dict, request) -> None:
    """Persist the refresh token of a response; access tokens are JWTs and are not stored."""
    if "refresh_token" not in token:
        return
    source = request.authorization_code or request.refresh_token
    tokens.store_refresh_token(
        token["refresh_token"], request.client, request.user, token.get("scope", ""), source.family
    )


def console_session_id() -> str:
    """The public id of the browser's IdP session (``sid``); logout revokes the grants made under it."""
    sid = session.get("oidc_sid")
    if not sid:
        sid = session["oidc_sid"] = secrets.token_urlsafe(16)
    return sid


class _Request(FlaskOAuth2Request):
    """Authlib's request, addressed by the public URL (the issuer) rather than the one a proxy saw."""

    def __init__(self, request, uri: str):
        if not settings.flag("OAUTH_INSECURE_TRANSPORT") and not is_secure_transport(uri):
            raise InsecureTransportError()
        # Authlib's initialiser repeats the transport check on ``uri``; the check above is ours.
        self.method, self.uri, self.headers, self._body = request.method, uri, request.headers, None
        self.client = self.auth_method = self.user = self.authorization_code = None
        self.refresh_token = self.credential = self._scope = None
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


def token_request(request) -> _Request:
    """An OAuth request for a token-endpoint call made in process (the console's code exchange)."""
    return _Request(request, settings.issuer() + "/oauth/token")


class TaijiAuthorizationServer(AuthorizationServer):
    def __init__(self):
        super().__init__(query_client=query_client, save_token=_save_token)

    def create_oauth2_request(self, request):
        if isinstance(request, _Request):
            return request
        return _Request(flask_request, settings.issuer() + flask_request.full_path.rstrip("?"))

    def validate_requested_scope(self, scope):
        if unknown_scopes(scope):
            raise InvalidScopeError(f"Unknown scope: {printable(' '.join(unknown_scopes(scope)))}.")

    def get_token_grant(self, request):
        # RFC 6749 §5.2: unsupported_grant_type is for a type the server does not know; a request
        # without one (or with two) is malformed. Raised here, it is answered by ``_guarded``.
        given = request.payload.datalist.get("grant_type", [])
        if not given or not given[0]:
            raise InvalidRequestError("Missing 'grant_type'.")
        if len(given) > 1:
            raise InvalidRequestError("'grant_type' is given more than once.")
        return super().get_token_grant(request)


# -- grants ------------------------------------------------------------------------------------


class _Issuing:
    """Tokens are issued by ``tokens.issue``, which knows the grant family they belong to."""

    def _family(self) -> str | None:
        return None

    def _granted_resources(self) -> list[str] | None:
        """The resources the user's authorization was limited to (None: not limited)."""
        return None

    def generate_token(
        self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True
    ):
        client = self.request.client
        scope = client.get_allowed_scope(scope)
        audience = resources.for_token(resources.requested(self.request.payload), self._granted_resources())
        return tokens.issue(
            client, user, scope, family=self._family(), include_refresh_token=include_refresh_token,
            resources=audience,
        )


def _active_user(user_id: int | None):
    user = iam.get_user(user_id) if user_id is not None else None
    return user if user is not None and user.is_active else None


class AuthorizationCodeGrant(_Issuing, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS

    def _family(self):
        return self.request.authorization_code.family

    def _granted_resources(self):
        return self.request.authorization_code.resources

    def save_authorization_code(self, code, request):
        data = request.payload.data
        user = request.user
        asked = resources.requested(request.payload)
        db.session.add(
            OAuthGrant(
                code_hash=digest(code),
                family=secrets.token_hex(16),
                client_pk=request.client.id,
                user_id=user.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                session_id=console_session_id(),
                resources=asked or None,
                auth_time=session.get("idp_at") or int(time.time()),
                expires_at=utcnow() + dt.timedelta(seconds=settings.seconds("OAUTH_CODE_TTL")),
            )
        )
        audit.record(
            "iam.oauth.authorized",
            "oauth_client",
            request.client.client_id,
            details={"scope": request.scope or "", **({"resources": asked} if asked else {})},
            actor=user,  # the provider's session, which may have no console session beside it
        )
        db.session.flush()

    def query_authorization_code(self, code, client):
        row = db.session.execute(
            sa.select(OAuthGrant).where(
                OAuthGrant.code_hash == digest(code), OAuthGrant.client_pk == client.id
            )
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice revokes what it issued.
            tokens.revoke_family(row.family, "authorization code replayed")
            return None
        if row.expires_at <= utcnow():
            return None
        return row

    def delete_authorization_code(self, authorization_code):
        spent = db.session.execute(
            sa.update(OAuthGrant)
            .where(OAuthGrant.id == authorization_code.id, OAuthGrant.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if spent.rowcount != 1:
            tokens.revoke_family(authorization_code.family, "authorization code replayed")
            raise InvalidGrantError("The authorization code was already used.")

    def authenticate_user(self, authorization_code):
        return _active_user(authorization_code.user_id)


class OpenIDCode(oidc_grants.OpenIDCode):
    def exists_nonce(self, nonce, request):
        client = query_client(request.payload.client_id)
        if client is None:
            return False
        return (
            db.session.execute(
                sa.select(OAuthGrant.id).where(OAuthGrant.client_pk == client.id, OAuthGrant.nonce == nonce)
            ).first()
            is not None
        )

    def resolve_client_private_key(self, client):
        return keys.signing_key()

    def get_client_algorithm(self, client):
        return keys.ALG

    def get_encode_header(self, client):
        return {"alg": keys.ALG, "kid": keys.signing_key().kid, "typ": "JWT"}

    def get_client_claims(self, client):
        return {
            "iss": settings.issuer(),
            "aud": client.client_id,
            "exp": int(time.time()) + settings.seconds("OAUTH_ID_TOKEN_TTL"),
        }

    def get_authorization_code_claims(self, authorization_code):
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.session_id:
            claims["sid"] = authorization_code.session_id
        return claims

    def generate_user_info(self, user, scope):
        from .services import user_claims

        return user_claims(user, scope)


class RefreshTokenGrant(_Issuing, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def _family(self):
        return self.request.refresh_token.family

    def _granted_resources(self):
        return db.session.execute(sa.select(OAuthGrant.resources).where(
            OAuthGrant.family == self.request.refresh_token.family)).scalar_one_or_none()

    def authenticate_refresh_token(self, refresh_token):
        row = tokens.find_refresh_token(refresh_token)
        if row is None or row.revoked_at is not None:
            return None
        if row.rotated_at is not None:
            # A spent token presented again: someone holds a copy. End the whole chain.
            tokens.revoke_family(row.family, "refresh token reused")
            return None
        if row.is_expired():
            return None
        return row

    def authenticate_user(self, refresh_token):
        user = _active_user(refresh_token.user_id)
        if user is None or user.session_epoch != refresh_token.user_epoch:
            raise InvalidGrantError("The user's sessions were ended; sign in again.")
        return user

    def revoke_old_credential(self, refresh_token):
        if not tokens.mark_rotated(refresh_token):
            tokens.revoke_family(refresh_token.family, "refresh token reused")
            raise InvalidGrantError("The refresh token was already used.")


class ClientCredentialsGrant(_Issuing, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def validate_requested_scope(self):
        # No user consents here: a machine asking for a scope it was not registered with gets an
        # error (RFC 6749 §5.2), not a token silently emptied of what it needed.
        super().validate_requested_scope()
        allowed = set(scope_list(self.request.client.scope))
        beyond = [s for s in scope_list(self.request.payload.scope) if s not in allowed]
        if beyond:
            raise InvalidScopeError(
                f"The client is not registered for the scope {printable(' '.join(beyond))}.")


# -- introspection, revocation, logout ----------------------------------------------------------


@dataclass
class AccessToken:
    """A verified access token, shaped for Authlib's endpoints."""

    claims: dict
    client: OAuthClient | None

    @property
    def client_pk(self):
        return self.client.id if self.client else None

    def check_client(self, client) -> bool:
        return self.client is not None and self.client.id == client.id

    def is_expired(self) -> bool:
        return self.claims["exp"] <= time.time()

    def is_revoked(self) -> bool:
        return tokens.is_revoked(self.claims)


def lookup_token(value: str, hint: str | None = None):
    """A refresh-token row or a verified access token; the hint is advisory (RFC 7662 §2.1)."""
    if value.startswith(tokens.REFRESH_PREFIX):
        return tokens.find_refresh_token(value)
    claims = tokens.decode_access_token(value)
    if claims is None:
        return None
    return AccessToken(claims, query_client(claims.get("client_id")))


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def query_token(self, token_string, token_type_hint):
        return lookup_token(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        """Who may see a token as it is (anyone else is told ``active: false``).

        The client it was issued to; a client whose own id or resource indicator is in the token's
        audience (the resource server it was meant for); and clients an administrator allowed to
        introspect every token (``can_introspect``) or made first-party (``trusted``).
        """
        if client.trusted or client.can_introspect or token.client_pk == client.id:
            return True
        if isinstance(token, OAuthToken):
            return False  # refresh tokens are the client's own business
        audience = tokens.audiences(token.claims)
        return client.client_id in audience or (client.resource is not None and client.resource in audience)

    def introspect_token(self, token):
        if isinstance(token, OAuthToken):
            user = _active_user(token.user_id)
            if user is None or user.session_epoch != token.user_epoch:
                return {"active": False}
            client = db.session.get(OAuthClient, token.client_pk)
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": client.client_id,
                "scope": token.scope,
                "sub": str(token.user_id),
                "username": user.email,
                "iss": settings.issuer(),
                "iat": int(token.issued_at.timestamp()),
                "exp": int(token.expires_at.timestamp()),
            }
        claims = token.claims
        body = {"active": True, "token_type": "Bearer"}
        body.update(
            {
                k: claims[k]
                for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti")
                if k in claims
            }
        )
        if claims.get(tokens.GRANT_CLAIM):
            user = _active_user(int(claims["sub"]))
            if user is None:
                return {"active": False}
            body["username"] = user.email
        return body


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_METHODS

    def query_token(self, token_string, token_type_hint):
        return lookup_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        if isinstance(token, OAuthToken):
            # RFC 7009 §2.1: revoking a refresh token also ends the access tokens of its grant.
            tokens.revoke_family(token.family, "revoked by the client")
        else:
            tokens.revoke_access_token(token.claims)
            audit.record(
                "iam.oauth.token_revoked",
                "oauth_client",
                token.claims.get("client_id", ""),
                details={"jti": token.claims.get("jti")},
            )


class EndSessionEndpoint(_EndSessionEndpoint):
    def get_server_jwks(self):
        return keys.verification_keys()

    def get_algorithms(self):
        return [keys.ALG]

    def is_post_logout_redirect_uri_legitimate(self, request, post_logout_redirect_uri, client, logout_hint):
        # Without an id_token_hint, only first-party clients may send the user back after logout.
        return bool(client.trusted)

    def end_session(self, end_session_request):
        from .services import end_console_session

        end_console_session(end_session_request.id_token_claims)


server = TaijiAuthorizationServer()
server.register_grant(
    AuthorizationCodeGrant,
    [AuthorizationRequestChecks(), S256CodeChallenge(required=True), OpenIDCode(require_nonce=True)],
)
server.register_grant(RefreshTokenGrant)
server.register_grant(ClientCredentialsGrant)
server.register_endpoint(IntrospectionEndpoint)
server.register_endpoint(RevocationEndpoint)
server.register_endpoint(EndSessionEndpoint)
