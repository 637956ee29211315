"""A real relying party (Authlib's OAuth2Session) signs a user in through Taiji over HTTP."""

from __future__ import annotations

import secrets

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from .relying_party import (
    LOGOUT_REDIRECT,
    REDIRECT,
    authorize,
    code_flow,
    csrf_token,
    query,
    relying_party,
    sign_in,
)

pytestmark = pytest.mark.live


def _jwks(provider) -> KeySet:
    return KeySet.import_key_set(requests.get(provider.metadata["jwks_uri"], timeout=10).json())


def test_discovery_names_the_issuer_and_every_endpoint(provider):
    meta = provider.metadata
    assert meta["issuer"] == provider.base
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ):
        assert meta[name].startswith(provider.base + "/")
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "profile", "email", "taiji:api"} <= set(meta["scopes_supported"])
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(meta["grant_types_supported"])
    assert all(key["kty"] == "RSA" and "d" not in key for key in _jwks(provider).as_dict()["keys"])


def test_anonymous_user_is_sent_to_login_then_back_and_the_rp_gets_a_valid_id_token(provider):
    creds = provider.client(name="Grafana", scope="openid profile email taiji:api")
    rp = relying_party(provider, creds, scope="openid profile email taiji:api")
    browser = requests.Session()
    response, verifier, nonce = authorize(provider, browser, rp, state="xyz-state")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]

    signed_in = sign_in(browser, provider.base + response.headers["Location"], provider.user.email,
                        follow=False)
    back = signed_in.headers["Location"]
    assert back.startswith("/oauth/authorize?")
    consent = browser.get(provider.base + back)
    # Grafana is a third-party client: the user is asked before anything is shared.
    assert 'data-testid="oauth-consent"' in consent.text
    response = browser.post(
        provider.base + back,
        data={"decision": "approve", "csrf_token": csrf_token(consent.text)},
        allow_redirects=False,
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT) and query(location)["state"] == "xyz-state"
    token = rp.fetch_token(
        provider.metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    id_token = jwt.decode(token["id_token"], _jwks(provider), algorithms=["RS256"])
    claims = id_token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.base},
        aud={"essential": True, "value": creds["client_id"]},
        nonce={"essential": True, "value": nonce},
    ).validate(claims)
    assert claims["sub"] == str(provider.user.id)
    assert claims["email"] == "ada@example.com" and claims["name"] == "Ada Lovelace"
    assert claims["https://taiji.dev/tenants"] == [{"slug": provider.tenant_slug, "role": "owner"}]
    assert id_token.header["kid"] in {k["kid"] for k in _jwks(provider).as_dict()["keys"]}

    access = jwt.decode(token["access_token"], _jwks(provider), algorithms=["RS256"])
    assert access.header["typ"] == "at+jwt"
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "scope", "client_id"} <= set(access.claims)
    assert access.claims["exp"] - access.claims["iat"] <= 600

    userinfo = rp.get(provider.metadata["userinfo_endpoint"]).json()
    assert userinfo["email"] == "ada@example.com" and userinfo["sub"] == claims["sub"]

    # The same access token authenticates Taiji's REST API (scope taiji:api).
    me = requests.get(
        provider.base + "/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    )
    assert me.status_code == 200 and me.json()["email"] == "ada@example.com"


def test_token_without_api_scope_cannot_call_the_rest_api(provider):
    creds = provider.client(name="Wiki", scope="openid profile email", trusted=True)
    _, token, _ = code_flow(provider, provider.browser(), creds)
    me = requests.get(
        provider.base + "/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    )
    assert me.status_code == 401


def test_pkce_is_required_with_s256_for_confidential_clients_too(provider):
    creds = provider.client(name="Jenkins", trusted=True)
    browser = provider.browser()
    base = (
        f"{provider.metadata['authorization_endpoint']}?response_type=code&client_id={creds['client_id']}"
        f"&redirect_uri={REDIRECT}&scope=openid&state=s1&nonce=n1"
    )
    missing = browser.get(base, allow_redirects=False)
    plain = browser.get(
        base + "&code_challenge=" + "a" * 43 + "&code_challenge_method=plain", allow_redirects=False
    )
    for response in (missing, plain):
        assert response.status_code == 302
        params = query(response.headers["Location"])
        assert params["error"] == "invalid_request" and params["state"] == "s1"

    # A code obtained with a challenge cannot be redeemed without its verifier.
    rp = relying_party(provider, creds)
    response, _, _ = authorize(provider, browser, rp)
    code = query(response.headers["Location"])["code"]
    answer = requests.post(
        provider.metadata["token_endpoint"],
        auth=(creds["client_id"], creds["client_secret"]),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_nonce_is_required_for_openid(provider):
    creds = provider.client(name="NoNonce", trusted=True)
    url = (
        f"{provider.metadata['authorization_endpoint']}?response_type=code&client_id={creds['client_id']}"
        f"&redirect_uri={REDIRECT}&scope=openid&state=s2&code_challenge={'b' * 43}&code_challenge_method=S256"
    )
    response = provider.browser().get(url, allow_redirects=False)
    assert query(response.headers["Location"])["error"] == "invalid_request"


def test_unregistered_redirect_uri_is_refused_without_redirecting(provider):
    creds = provider.client(name="Strict", trusted=True)
    rp = relying_party(provider, creds)
    rp.redirect_uri = REDIRECT + "/evil"
    response, _, _ = authorize(provider, provider.browser(), rp)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "not valid" in response.text


def test_denied_consent_returns_access_denied_to_the_client(provider):
    creds = provider.client(name="Third party")
    rp = relying_party(provider, creds)
    browser = provider.browser()
    url, _ = rp.create_authorization_url(
        provider.metadata["authorization_endpoint"],
        code_verifier=secrets.token_urlsafe(48),
        nonce="n",
        state="s3",
    )
    page = browser.get(url)
    assert 'data-testid="oauth-consent"' in page.text and "Third party" in page.text
    response = browser.post(
        url, data={"decision": "deny", "csrf_token": csrf_token(page.text)}, allow_redirects=False
    )
    params = query(response.headers["Location"])
    assert params["error"] == "access_denied" and params["state"] == "s3" and "code" not in params


def test_reused_code_is_refused_and_revokes_the_tokens_it_issued(provider):
    creds = provider.client(name="Replay", trusted=True)
    rp = relying_party(provider, creds)
    response, verifier, _ = authorize(provider, provider.browser(), rp)
    location = response.headers["Location"]
    token = rp.fetch_token(
        provider.metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    with pytest.raises(OAuthError) as replay:
        rp.fetch_token(
            provider.metadata["token_endpoint"], authorization_response=location, code_verifier=verifier
        )
    assert replay.value.error == "invalid_grant"
    with pytest.raises(OAuthError):
        rp.refresh_token(provider.metadata["token_endpoint"], refresh_token=token["refresh_token"])
    status = rp.post(
        provider.metadata["introspection_endpoint"],
        data={"token": token["access_token"]},
        auth=(creds["client_id"], creds["client_secret"]),
        withhold_token=True,
    ).json()
    assert status == {"active": False}


def test_public_client_signs_in_and_refreshes_without_a_secret(provider):
    creds = provider.client(name="CLI", public=True, trusted=True)
    assert creds["client_secret"] is None
    rp, token, _ = code_flow(provider, provider.browser(), creds, public=True)
    refreshed = rp.refresh_token(provider.metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]


def test_rp_initiated_logout_ends_the_session_and_revokes_its_refresh_tokens(provider):
    creds = provider.client(name="Portal", trusted=True, post_logout_redirect_uris=[LOGOUT_REDIRECT])
    browser = provider.browser()
    rp, token, _ = code_flow(provider, browser, creds)
    end = provider.metadata["end_session_endpoint"]

    refused = browser.get(
        end,
        params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": LOGOUT_REDIRECT + "/other"},
        allow_redirects=False,
    )
    assert refused.status_code == 400
    assert browser.get(provider.base + "/profile", allow_redirects=False).status_code == 200

    response = browser.get(
        end,
        params={
            "id_token_hint": token["id_token"],
            "state": "bye",
            "post_logout_redirect_uri": LOGOUT_REDIRECT,
        },
        allow_redirects=False,
    )
    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_REDIRECT + "?state=bye"
    assert "/login" in browser.get(provider.base + "/profile", allow_redirects=False).headers["Location"]
    with pytest.raises(OAuthError):
        rp.refresh_token(provider.metadata["token_endpoint"], refresh_token=token["refresh_token"])
