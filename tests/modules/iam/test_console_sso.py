"""The console signs in through Taiji's own OpenID Connect provider, and signs out through it."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa

from taiji.modules.iam.oauth import console
from taiji.modules.iam.oauth import services as oauth
from taiji.modules.iam.oauth.models import OAuthToken
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.conftest import complete_sign_in
from tests.factories import PASSWORD, make_user

TOOL = "https://tool.example.com/cb"


def _query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _sign_in(client, user):
    form = {"email": user.email, "password": PASSWORD}
    response = complete_sign_in(client, client.post("/login", data=form))
    assert response.status_code == 302 and response.headers["Location"] == "/"


def _pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(client, client_id, scope="openid profile", **extra):
    verifier, challenge = _pkce()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": TOOL, "scope": scope,
              "state": "s1", "nonce": secrets.token_hex(8), "code_challenge": challenge,
              "code_challenge_method": "S256", **extra}
    return client.get("/oauth/authorize?" + urlencode(params)), verifier


def _third_party_tokens(client, tool, secret):
    """A tool's full code flow in this browser; returns its token response."""
    response, verifier = _authorize(client, tool.client_id)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    code = _query(response.headers["Location"])["code"]
    tokens = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": TOOL, "code_verifier": verifier},
                         auth=(tool.client_id, secret))
    assert tokens.status_code == 200, tokens.json
    return tokens.json


def test_the_callback_opens_a_console_session_separate_from_the_provider_session(client):
    user = make_user()
    _sign_in(client, user)
    with client.session_transaction() as session:
        assert session["uid"] == user.id and session["idp_uid"] == user.id
        assert session["sid"] != session["idp_sid"]
        assert session["id_token"].count(".") == 2
        assert console.FLOW_KEY not in session  # state, nonce and verifier are spent
    assert client.get("/profile").status_code == 200


def test_the_console_client_is_first_party_and_not_listed_or_deletable(client, api_as, admin):
    client.get("/login")  # the first sign-in request fixes its redirect URI to TAIJI_BASE_URL
    row = console.client()
    assert row.trusted and row.is_public and row.redirect_uris == ["http://taiji.test/login/callback"]
    api = api_as(admin)
    listed = api.get("/api/v1/oauth/clients").json
    assert console.CLIENT_ID not in {c["client_id"] for c in listed}
    assert api.delete(f"/api/v1/oauth/clients/{console.CLIENT_ID}").status_code == 404


def test_a_callback_with_a_forged_state_is_refused_and_signs_nobody_in(client):
    user = make_user()
    form = {"email": user.email, "password": PASSWORD}
    back = client.post("/login", data=form)
    callback = client.get(back.headers["Location"])
    location = callback.headers["Location"]
    assert location.startswith("/login/callback?")
    forged = location.replace(f"state={_query(location)['state']}", "state=forged")
    response = client.get(forged)
    assert response.status_code == 400
    assert 'data-testid="login-failed"' in response.get_data(as_text=True)
    assert client.get("/profile").headers["Location"].startswith("/login")
    # The flow is spent: the genuine callback cannot be replayed after the forged one.
    assert client.get(location).status_code == 400


def test_a_callback_without_a_started_flow_is_refused(client):
    response = client.get("/login/callback?code=abc&state=xyz")
    assert response.status_code == 400
    assert db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "iam.login.failed",
                                    AuditEntry.target == console.CLIENT_ID)).first()


def test_an_id_token_with_the_wrong_nonce_or_audience_is_refused(client):
    user = make_user()
    _sign_in(client, user)
    with client.session_transaction() as session:
        id_token = session["id_token"]
    try:
        console.validate_id_token(id_token, "another-nonce")
    except console.SignInFailed:
        pass
    else:
        raise AssertionError("a wrong nonce was accepted")
    tampered = id_token[:-4] + ("AAAA" if not id_token.endswith("AAAA") else "BBBB")
    try:
        console.validate_id_token(tampered, "irrelevant")
    except console.SignInFailed:
        pass
    else:
        raise AssertionError("a bad signature was accepted")


def test_signing_out_of_the_console_revokes_the_sessions_refresh_tokens(client, app):
    user = make_user()
    tool, secret = oauth.create_client("Tool", [TOOL], trusted=True)
    _sign_in(client, user)
    tokens = _third_party_tokens(client, tool, secret)
    logout = client.post("/logout")
    assert logout.headers["Location"].startswith("/oauth/logout?")
    assert client.get(logout.headers["Location"]).headers["Location"] == "/login"
    row = db.session.execute(sa.select(OAuthToken).where(OAuthToken.client_pk == tool.id)).scalar_one()
    assert row.revoked_at is not None
    refreshed = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": tokens["refresh_token"]},
                            auth=(tool.client_id, secret))
    assert refreshed.status_code == 400 and refreshed.json["error"] == "invalid_grant"
    # Both sessions ended: a tool asking now sends the browser to the sign-in page.
    response, _ = _authorize(client, tool.client_id)
    assert response.headers["Location"].startswith("/login?next=/oauth/authorize")


def test_a_provider_session_signs_the_console_in_without_a_second_password(client):
    user = make_user()
    _sign_in(client, user)
    with client.session_transaction() as session:
        for key in ("uid", "epoch", "sid", "id_token"):
            session.pop(key)
    assert client.get("/profile").headers["Location"].startswith("/login")
    response = complete_sign_in(client, client.get("/login?next=/profile"))
    assert response.headers["Location"] == "/profile"
    assert client.get("/profile").status_code == 200


def test_sign_in_and_sign_out_are_audited_with_address_and_agent(client):
    user = make_user()
    form = {"email": user.email, "password": PASSWORD}
    complete_sign_in(client, client.post("/login", data=form, headers={"User-Agent": "Audit/1"},
                                         environ_base={"REMOTE_ADDR": "10.9.8.7"}))
    entry = db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "iam.login.succeeded",
                                    AuditEntry.target == user.email)
    ).scalar_one()
    assert entry.address == "10.9.8.7" and entry.user_agent == "Audit/1"
