"""Remembered consent for third-party clients, and rate limits on the provider's endpoints."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.modules.iam.oauth import services as oauth
from taiji.modules.iam.oauth.models import OAuthConsent, OAuthToken
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.factories import make_user

from .test_console_sso import TOOL, _authorize, _query, _sign_in


def _approve(client, tool, scope):
    page, verifier = _authorize(client, tool.client_id, scope=scope)
    assert page.status_code == 200 and 'data-testid="oauth-consent"' in page.get_data(as_text=True)
    action = page.request.full_path.rstrip("?")
    answer = client.post(action, data={"decision": "approve"})
    assert answer.status_code == 302 and "code=" in answer.headers["Location"]
    return answer, verifier


def test_consent_is_asked_once_and_a_subset_of_scopes_skips_the_page(client):
    user = make_user()
    tool, _secret = oauth.create_client("Grafana", [TOOL], scope="openid profile email")
    _sign_in(client, user)
    _approve(client, tool, "openid profile")
    again, _ = _authorize(client, tool.client_id, scope="openid")
    assert again.status_code == 302 and again.headers["Location"].startswith(TOOL)
    # More than was approved: asked again; approving adds the scope to the remembered consent.
    _approve(client, tool, "openid email")
    row = db.session.execute(sa.select(OAuthConsent).where(OAuthConsent.user_id == user.id)).scalar_one()
    assert set(row.scope.split()) == {"openid", "profile", "email"}
    assert db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "iam.oauth.consent_granted", AuditEntry.target == tool.client_id)).first()


def test_prompt_consent_asks_even_when_remembered(client):
    user = make_user()
    tool, _secret = oauth.create_client("Grafana", [TOOL])
    _sign_in(client, user)
    _approve(client, tool, "openid")
    page, _ = _authorize(client, tool.client_id, scope="openid", prompt="consent")
    assert page.status_code == 200


def test_a_denied_authorization_is_not_remembered(client):
    user = make_user()
    tool, _secret = oauth.create_client("Grafana", [TOOL])
    _sign_in(client, user)
    page, _ = _authorize(client, tool.client_id, scope="openid")
    answer = client.post(page.request.full_path.rstrip("?"), data={"decision": "deny"})
    assert _query(answer.headers["Location"])["error"] == "access_denied"
    assert db.session.execute(sa.select(OAuthConsent)).first() is None


def test_revoking_a_consent_on_the_profile_revokes_the_clients_refresh_tokens(client):
    user = make_user()
    tool, secret = oauth.create_client("Grafana", [TOOL])
    _sign_in(client, user)
    answer, verifier = _approve(client, tool, "openid profile")
    code = _query(answer.headers["Location"])["code"]
    tokens = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": TOOL, "code_verifier": verifier},
                         auth=(tool.client_id, secret)).json
    profile = client.get("/profile").get_data(as_text=True)
    assert "Grafana" in profile and 'data-testid="consent-row"' in profile
    consent = db.session.execute(sa.select(OAuthConsent)).scalar_one()
    assert client.post(f"/profile/consents/{consent.id}/revoke").status_code == 302
    assert db.session.execute(sa.select(OAuthConsent)).first() is None
    row = db.session.execute(sa.select(OAuthToken).where(OAuthToken.client_pk == tool.id)).scalar_one()
    assert row.revoked_at is not None
    refreshed = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": tokens["refresh_token"]},
                            auth=(tool.client_id, secret))
    assert refreshed.status_code == 400
    page, _ = _authorize(client, tool.client_id, scope="openid")
    assert page.status_code == 200  # asked again
    assert "No applications yet" in client.get("/profile").get_data(as_text=True)


def test_someone_elses_consent_cannot_be_revoked(client, app):
    owner = make_user()
    tool, _secret = oauth.create_client("Grafana", [TOOL])
    _sign_in(client, owner)
    _approve(client, tool, "openid")
    consent = db.session.execute(sa.select(OAuthConsent)).scalar_one()
    other = app.test_client()
    _sign_in(other, make_user())
    assert other.post(f"/profile/consents/{consent.id}/revoke").status_code == 404
    assert db.session.get(OAuthConsent, consent.id) is not None


def test_the_token_endpoint_is_limited_per_client_with_retry_after(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "OAUTH_TOKEN_RATE_LIMIT", "3 per minute")
    machine, secret = oauth.create_client("CI", [], grant_types=["client_credentials"], scope="taiji:api")
    statuses = []
    for n in range(4):
        statuses.append(client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                    auth=(machine.client_id, secret),
                                    environ_base={"REMOTE_ADDR": f"10.1.0.{n}"}))
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    refused = statuses[-1]
    assert refused.json["error"] == "rate_limited" and int(refused.headers["Retry-After"]) > 0
    # Another client from another address is not affected.
    other, other_secret = oauth.create_client("CD", [], grant_types=["client_credentials"], scope="taiji:api")
    assert client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(other.client_id, other_secret),
                       environ_base={"REMOTE_ADDR": "10.2.0.1"}).status_code == 200


def test_the_token_endpoint_is_limited_per_address(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "OAUTH_TOKEN_RATE_LIMIT", "2 per minute")
    answers = [client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": f"c{n}"})
               for n in range(3)]
    assert [r.status_code for r in answers[:2]] != [429, 429] and answers[2].status_code == 429
    assert "Retry-After" in answers[2].headers


def test_introspection_is_limited(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "OAUTH_INTROSPECT_RATE_LIMIT", "1 per minute")
    rs, secret = oauth.create_client("API", [], grant_types=["client_credentials"])
    first = client.post("/oauth/introspect", data={"token": "x"}, auth=(rs.client_id, secret))
    second = client.post("/oauth/introspect", data={"token": "x"}, auth=(rs.client_id, secret))
    assert first.status_code == 200 and first.json == {"active": False}
    assert second.status_code == 429 and second.json["error"] == "rate_limited"


def test_a_throttled_sign_in_says_when_to_retry(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1 per minute")
    client.post("/login", data={"email": "a@example.com", "password": "wrong-password"})
    response = client.post("/login", data={"email": "b@example.com", "password": "wrong-password"})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
