"""The provider's HTTP endpoints: discovery, JWKS, authorize (with login and consent), token,
introspection, revocation, userinfo and RP-initiated logout."""

from __future__ import annotations

import time

from authlib.oauth2 import OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError

from taiji.modules.iam import services as iam
from taiji.modules.iam import sessions as console_sessions
from taiji.platform import auth
from taiji.platform.ratelimit import by_address, by_oauth_client, limiter

from . import consents, console, keys, services, settings, tokens
from .scopes import known_scopes, scope_list
from .server import server

bp = Blueprint("iam_oauth", __name__, template_folder="templates")

# Endpoints called by relying parties, not by a browser holding a Taiji form: no CSRF token.
CSRF_EXEMPT = ("token", "introspect", "revoke", "userinfo", "end_session")


@bp.get("/.well-known/openid-configuration")
@auth.public
def discovery():
    issuer = settings.issuer()
    body = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALG],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": known_scopes(),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "email",
            "email_verified",
            "name",
            "preferred_username",
            "locale",
            services.TENANTS_CLAIM,
            services.ROLES_CLAIM,
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        # Asked for anyway, they are refused (request_not_supported, request_uri_not_supported).
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/oauth/jwks")
@auth.public
def jwks():
    response = jsonify(keys.public_jwks())
    # Shorter than the key activation delay, so caches see a new key before it signs.
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _authorize_error(error: OAuth2Error):
    """Errors go back to a verified redirect URI; otherwise the user sees them here (never a 500)."""
    if error.redirect_uri:
        return server.handle_error_response(None, error)
    abort(400, description=f"This sign-in link is not valid: {error.description or error.error}.")


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@auth.public  # asks an anonymous caller to sign in, then for consent
def authorize():
    # The identity provider's own session decides who is asking, not the console's.
    user = console_sessions.idp_user()
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _authorize_error(error)
    prompts = (request.values.get("prompt") or "").split()
    if user is None or ("login" in prompts and request.method == "GET" and not _fresh_sign_in()):
        if "none" in prompts:
            return _authorize_error(_with_redirect(LoginRequiredError(), grant))
        return redirect(url_for("iam.login", next=_without_prompt_login()))
    client = grant.client
    if request.method == "POST":
        approved = request.form.get("decision") == "approve"
        if approved:
            consents.remember(user, client, grant.request.scope)
        return _answer(client, server.create_authorization_response(grant_user=user if approved else None,
                                                                    grant=grant))
    if client.trusted or ("consent" not in prompts and consents.covers(user, client, grant.request.scope)):
        return _answer(client, server.create_authorization_response(grant_user=user, grant=grant))
    if "none" in prompts:
        return _authorize_error(_with_redirect(ConsentRequiredError(), grant))
    return render_template(
        "iam_oauth/consent.html",
        client=client,
        user=user,
        scopes=scope_list(grant.request.scope),
        action=request.full_path.rstrip("?"),
    )


def _fresh_sign_in() -> bool:
    """``prompt=login`` is satisfied by a sign-in made for this very request (the last minute)."""
    from flask import session

    return bool(session.get("idp_at")) and time.time() - session["idp_at"] < 60


def _without_prompt_login() -> str:
    return request.full_path.rstrip("?")


def _answer(client, response):
    """The console's callback stays on the host the browser used (see ``console.local``)."""
    if console.is_console(client) and response.location:
        response.headers["Location"] = console.local(response.location)
    return response


def _with_redirect(error: OAuth2Error, grant) -> OAuth2Error:
    error.redirect_uri = grant.redirect_uri
    error.state = grant.request.payload.state
    return error


def _guarded(call):
    """Errors raised before Authlib's own handling (an insecure issuer URL) still answer as OAuth errors."""
    try:
        return call()
    except OAuth2Error as error:
        return server.handle_error_response(None, error)


def _token_limit() -> str:
    return current_app.config.get("OAUTH_TOKEN_RATE_LIMIT") or "600 per minute"


def _introspect_limit() -> str:
    return current_app.config.get("OAUTH_INTROSPECT_RATE_LIMIT") or "6000 per minute"


def _throttled(error):
    """429 as an OAuth error body; Flask-Limiter adds Retry-After (RATELIMIT_HEADERS_ENABLED)."""
    response = jsonify({"error": "rate_limited",
                        "error_description": f"Too many requests ({error.description}); retry later."})
    response.status_code = 429
    response.headers["Cache-Control"] = "no-store"
    return response


bp.register_error_handler(429, _throttled)


@bp.post("/oauth/token")
@auth.protocol()  # OAuth 2.0: the client authenticates itself (RFC 6749 §2.3)
@limiter.limit(_token_limit, key_func=by_oauth_client)
@limiter.limit(_token_limit, key_func=by_address)
def token():
    return _guarded(lambda: server.create_token_response())


@bp.post("/oauth/introspect")
@auth.protocol()
@limiter.limit(_introspect_limit, key_func=by_oauth_client)
@limiter.limit(_introspect_limit, key_func=by_address)
def introspect():
    return _guarded(lambda: server.create_endpoint_response("introspection"))


@bp.post("/oauth/revoke")
@auth.protocol()
def revoke():
    return _guarded(lambda: server.create_endpoint_response("revocation"))


def _bearer_refused(status: int, error: str | None, description: str, **params):
    """RFC 6750 §3: a challenge naming the error, except when the request carried no token at all
    (§3.1: then no error code, just the scheme and realm)."""
    challenge = 'Bearer realm="taiji"'
    for name, value in (({"error": error} if error else {}) | params).items():
        challenge += f', {name}="{value}"'
    body = {"error": error, "error_description": description} if error else {"error_description": description}
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
@auth.protocol()  # the access token is the credential (OIDC Core §5.3)
def userinfo():
    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer ":
        return _bearer_refused(401, None, "Send an access token with the openid scope.")
    claims = tokens.verify_access_token(header[7:].strip())
    user = None
    if claims is not None and claims.get(tokens.GRANT_CLAIM):
        user = iam.get_user(int(claims["sub"]))
    if user is None or not user.is_active:
        return _bearer_refused(401, "invalid_token", "The access token is not valid, or expired, or revoked.")
    if "openid" not in scope_list(claims.get("scope")):
        return _bearer_refused(403, "insufficient_scope", "The access token lacks the openid scope.",
                               scope="openid")
    response = jsonify(services.user_claims(user, claims["scope"]))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/oauth/logout", methods=["GET", "POST"])
@auth.public  # RP-initiated logout; without an id_token_hint the user confirms
def end_session():
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        abort(400, description=f"This sign-out request is not valid: {error.description or error.error}.")
    asked = request.values.get("post_logout_redirect_uri")
    if asked and validated.redirect_uri is None:
        abort(
            400,
            description="post_logout_redirect_uri is not registered for this client, or the request "
            "carries no id_token_hint to prove where it comes from.",
        )
    if validated.needs_confirmation:
        # Without an id_token_hint anyone could link here: ask the user, with a CSRF-protected form.
        if request.method == "GET":
            return render_template(
                "iam_oauth/logout.html", client=validated.client, action=request.full_path.rstrip("?")
            )
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            try:
                validate_csrf(request.form.get("csrf_token"))
            except (ValidationError, CSRFError):
                abort(400, description="The sign-out form expired; open the page again.")
    response = server.create_endpoint_response("end_session", validated)
    if console.is_console(validated.client):
        flash(_("You have signed out."), "success")
    if response is not None:
        return _answer(validated.client, response)
    return render_template("iam_oauth/logged_out.html", client=validated.client)
