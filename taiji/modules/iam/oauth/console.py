"""The console as a relying party of Taiji's own provider.

The console is a registered first-party client (``taiji-console``: public, trusted, PKCE S256).
Its sign-in is a plain authorization-code flow: ``begin`` stores state, nonce and the PKCE verifier
in the browser's session and returns the authorization URL; ``finish`` checks the state, exchanges
the code at the token endpoint (in process: the same Authlib grant a remote client meets, without a
network round trip to ourselves) and validates the id_token against the published JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import sqlalchemy as sa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from taiji.platform.db import db

from . import keys, settings
from .models import OAuthClient

CLIENT_ID = "taiji-console"
CALLBACK_PATH = "/login/callback"
SIGNED_OUT_PATH = "/login"
# The console reads who signed in from its own tables: ``openid`` keeps the id_token (kept in the
# cookie as the sign-out hint) small whatever the user's tenants.
SCOPE = "openid"
FLOW_KEY = "console_flow"


class SignInFailed(Exception):
    """The console could not complete its sign-in; the message is safe to show."""


def redirect_uri() -> str:
    return settings.issuer() + CALLBACK_PATH


def post_logout_uri() -> str:
    return settings.issuer() + SIGNED_OUT_PATH


def client() -> OAuthClient:
    """The console's client row, created by the migration; its URIs follow ``TAIJI_BASE_URL``."""
    row = db.session.execute(
        sa.select(OAuthClient).where(OAuthClient.client_id == CLIENT_ID)).scalar_one_or_none()
    if row is None:
        row = OAuthClient(client_id=CLIENT_ID, name="Taiji console", is_public=True, trusted=True,
                          grant_types=["authorization_code"], scope="openid profile email",
                          redirect_uris=[], post_logout_redirect_uris=[])
        db.session.add(row)
    if row.redirect_uris != [redirect_uri()] or row.post_logout_redirect_uris != [post_logout_uri()]:
        # The base URL changed since the last sign-in (or this is the first one): follow it.
        row.redirect_uris = [redirect_uri()]
        row.post_logout_redirect_uris = [post_logout_uri()]
        db.session.flush()
        from .server import forget_clients

        forget_clients()
    return row


def is_console(client_row) -> bool:
    return client_row is not None and client_row.client_id == CLIENT_ID


def local(url: str) -> str:
    """A redirect to the console's own address, made relative to the issuer.

    The browser stays on the host it reached Taiji by; with ``TAIJI_BASE_URL`` set right that is the
    same URL, behind a proxy or in a test client it keeps the session cookie in play.
    """
    base = settings.issuer()
    if url.startswith(base + "/"):
        return url[len(base):]
    return url


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def begin(session, next_path: str) -> str:
    """Start a sign-in: remember state, nonce and PKCE verifier; return the authorization URL (a path)."""
    client()
    flow = {
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "verifier": secrets.token_urlsafe(48),
        "next": next_path,
    }
    session[FLOW_KEY] = flow
    query = urlencode({
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri(),
        "scope": SCOPE,
        "state": flow["state"],
        "nonce": flow["nonce"],
        "code_challenge": _challenge(flow["verifier"]),
        "code_challenge_method": "S256",
    })
    return "/oauth/authorize?" + query


def _exchange(code: str, verifier: str, remote_addr: str | None, user_agent: str | None) -> dict:
    from .server import server, token_request

    builder = EnvironBuilder(
        method="POST", path="/oauth/token", base_url=settings.issuer(),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(),
              "client_id": CLIENT_ID, "code_verifier": verifier},
        environ_base={"REMOTE_ADDR": remote_addr or "", "HTTP_USER_AGENT": user_agent or ""},
    )
    try:
        response = server.create_token_response(token_request(Request(builder.get_environ())))
    finally:
        builder.close()
    body = response.get_json(silent=True) or {}
    if response.status_code != 200 or "id_token" not in body:
        raise SignInFailed(body.get("error_description") or body.get("error") or "token exchange failed")
    return body


def validate_id_token(id_token: str, nonce: str) -> dict:
    """Claims of an id_token for the console: signature by a published key, iss, aud, nonce, exp."""
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(keys.public_jwks()), algorithms=[keys.ALG])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": settings.issuer()},
            aud={"essential": True, "value": CLIENT_ID},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise SignInFailed(f"the id_token is not valid ({exc.__class__.__name__})") from exc
    return dict(decoded.claims)


def finish(session, args, remote_addr: str | None = None,
           user_agent: str | None = None) -> tuple[dict, str, str]:
    """Complete a sign-in from the callback's query: returns (id_token claims, id_token, next path)."""
    flow = session.pop(FLOW_KEY, None)
    if not isinstance(flow, dict) or not args.get("state") or args.get("state") != flow.get("state"):
        raise SignInFailed("the sign-in request expired or came from another window")
    if args.get("error"):
        raise SignInFailed(args.get("error_description") or args["error"])
    if not args.get("code"):
        raise SignInFailed("no authorization code")
    body = _exchange(args["code"], flow["verifier"], remote_addr, user_agent)
    claims = validate_id_token(body["id_token"], flow["nonce"])
    return claims, body["id_token"], flow.get("next") or "/"
