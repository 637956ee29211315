"""Refresh rotation and reuse detection, introspection, revocation, client credentials and key
rotation, exercised by a relying party over HTTP."""

from __future__ import annotations

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from .relying_party import code_flow

pytestmark = pytest.mark.live


def _introspect(provider, creds, token: str) -> dict:
    response = requests.post(
        provider.metadata["introspection_endpoint"],
        data={"token": token},
        auth=(creds["client_id"], creds["client_secret"]),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _api_me(provider, access_token: str) -> int:
    return requests.get(
        provider.base + "/api/v1/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    ).status_code


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_whole_chain(provider):
    creds = provider.client(name="Rotating", trusted=True, scope="openid profile email taiji:api")
    rp, first, _ = code_flow(provider, provider.browser(), creds, scope="openid profile email taiji:api")
    endpoint = provider.metadata["token_endpoint"]

    second = rp.refresh_token(endpoint, refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert _introspect(provider, creds, second["access_token"])["active"] is True
    assert _api_me(provider, second["access_token"]) == 200

    # Someone replays the first, already rotated, refresh token: refused, and the chain ends.
    with pytest.raises(OAuthError) as reuse:
        rp.refresh_token(endpoint, refresh_token=first["refresh_token"])
    assert reuse.value.error == "invalid_grant"
    with pytest.raises(OAuthError):
        rp.refresh_token(endpoint, refresh_token=second["refresh_token"])
    assert _introspect(provider, creds, second["refresh_token"]) == {"active": False}
    assert _introspect(provider, creds, second["access_token"]) == {"active": False}
    assert _api_me(provider, second["access_token"]) == 401


def test_introspection_reports_active_tokens_and_needs_client_authentication(provider):
    creds = provider.client(name="Resource server", trusted=True)
    _, token, _ = code_flow(provider, provider.browser(), creds)

    status = _introspect(provider, creds, token["access_token"])
    assert status["active"] is True and status["client_id"] == creds["client_id"]
    assert status["sub"] == str(provider.user.id) and status["username"] == "ada@example.com"
    assert status["iss"] == provider.base and status["token_type"] == "Bearer"
    refresh = _introspect(provider, creds, token["refresh_token"])
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    assert _introspect(provider, creds, "not-a-token") == {"active": False}

    anonymous = requests.post(
        provider.metadata["introspection_endpoint"], data={"token": token["access_token"]}, timeout=10
    )
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    wrong = requests.post(
        provider.metadata["introspection_endpoint"],
        data={"token": token["access_token"]},
        auth=(creds["client_id"], "tjs_wrong"),
        timeout=10,
    )
    assert wrong.status_code == 401


def test_a_client_cannot_see_another_clients_tokens_unless_trusted(provider):
    owner = provider.client(name="Owner app", trusted=True)
    _, token, _ = code_flow(provider, provider.browser(), owner)
    stranger = provider.client(name="Stranger")
    assert _introspect(provider, stranger, token["access_token"]) == {"active": False}


def test_revocation_of_access_and_refresh_tokens(provider):
    creds = provider.client(name="Revoker", trusted=True)
    revoke = provider.metadata["revocation_endpoint"]
    auth = (creds["client_id"], creds["client_secret"])

    _, token, _ = code_flow(provider, provider.browser(), creds)
    answer = requests.post(
        revoke,
        data={"token": token["access_token"], "token_type_hint": "access_token"},
        auth=auth,
        timeout=10,
    )
    assert answer.status_code == 200
    assert _introspect(provider, creds, token["access_token"]) == {"active": False}
    # Revoking the access token alone leaves the refresh token usable.
    assert _introspect(provider, creds, token["refresh_token"])["active"] is True

    answer = requests.post(revoke, data={"token": token["refresh_token"]}, auth=auth, timeout=10)
    assert answer.status_code == 200
    assert _introspect(provider, creds, token["refresh_token"]) == {"active": False}
    # Unknown tokens are answered 200 too (RFC 7009 §2.2).
    assert requests.post(revoke, data={"token": "tj_rt_unknown"}, auth=auth, timeout=10).status_code == 200


def test_client_credentials_for_a_machine_client(provider):
    creds = provider.client(
        name="Backup job", redirect_uris=[], grant_types=["client_credentials"], scope="taiji:api"
    )
    machine = OAuth2Session(creds["client_id"], creds["client_secret"], scope="taiji:api")
    token = machine.fetch_token(provider.metadata["token_endpoint"], grant_type="client_credentials")
    assert "refresh_token" not in token
    status = _introspect(provider, creds, token["access_token"])
    assert status["active"] is True and status["sub"] == creds["client_id"] and status["scope"] == "taiji:api"
    # Machine tokens do not act as a user on Taiji's own API.
    assert _api_me(provider, token["access_token"]) == 401

    interactive = provider.client(name="Interactive only", trusted=True)
    refused = requests.post(
        provider.metadata["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(interactive["client_id"], interactive["client_secret"]),
        timeout=10,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"


def test_new_key_is_published_before_it_signs_and_old_tokens_stay_verifiable(provider):
    from taiji.modules.iam.oauth import services

    creds = provider.client(name="Verifier", trusted=True)
    _, before, _ = code_flow(provider, provider.browser(), creds)
    old_kid = jwt.decode(before["access_token"], _jwks(provider)).header["kid"]

    pending = provider.run(lambda: services.rotate_signing_key(delay=3600).kid)
    assert pending in _kids(provider)
    _, during, _ = code_flow(provider, provider.browser(), creds)
    assert jwt.decode(during["id_token"], _jwks(provider)).header["kid"] == old_kid

    current = provider.run(lambda: services.rotate_signing_key(delay=0).kid)
    _, after, _ = code_flow(provider, provider.browser(), creds)
    assert jwt.decode(after["access_token"], _jwks(provider)).header["kid"] == current
    assert jwt.decode(after["id_token"], _jwks(provider)).header["kid"] == current
    # The old key is still published, so tokens it signed verify offline and stay active.
    assert {old_kid, pending, current} <= _kids(provider)
    assert jwt.decode(before["access_token"], _jwks(provider)).claims["sub"] == str(provider.user.id)
    assert _introspect(provider, creds, before["access_token"])["active"] is True


def _jwks(provider) -> KeySet:
    return KeySet.import_key_set(requests.get(provider.metadata["jwks_uri"], timeout=10).json())


def _kids(provider) -> set[str]:
    return {k["kid"] for k in requests.get(provider.metadata["jwks_uri"], timeout=10).json()["keys"]}
