"""What resource servers and strict relying parties check, over HTTP against a served Taiji (issue 12,
finding 22): audiences and introspection for resource servers (RFC 9068, RFC 8707, RFC 7662),
email_verified, request objects, RFC 6749 §5.2 errors, Retry-After, RFC 6750 §3.1 challenges."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import PASSWORD

from .relying_party import REDIRECT, authorize, code_flow, relying_party

pytestmark = pytest.mark.live

ORDERS = "https://orders.example.test"
BILLING = "https://billing.example.test"


@pytest.fixture(scope="module")
def resource_servers(provider):
    """Two resource servers, registered with their resource indicators (once for the module)."""
    return {
        ORDERS: provider.client(name="Orders API", redirect_uris=[], grant_types=["client_credentials"],
                                resource=ORDERS),
        BILLING: provider.client(name="Billing API", redirect_uris=[], grant_types=["client_credentials"],
                                 resource=BILLING),
    }


def _claims(provider, token: str) -> dict:
    keys = KeySet.import_key_set(requests.get(provider.metadata["jwks_uri"], timeout=10).json())
    return jwt.decode(token, keys).claims


def _introspect(provider, creds, token: str) -> dict:
    answer = requests.post(provider.metadata["introspection_endpoint"], data={"token": token},
                           auth=(creds["client_id"], creds["client_secret"]), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _token_post(provider, creds, **data) -> requests.Response:
    return requests.post(provider.metadata["token_endpoint"], data=data,
                         auth=(creds["client_id"], creds["client_secret"]), timeout=10)


def _code_flow_for(provider, creds, scope, **params):
    """The code flow with extra authorization parameters; returns (rp, token response)."""
    rp = relying_party(provider, creds, scope=scope)
    response, verifier, _ = authorize(provider, provider.browser(), rp, **params)
    assert response.status_code == 302, response.text[:300]
    token = rp.fetch_token(provider.metadata["token_endpoint"],
                           authorization_response=response.headers["Location"], code_verifier=verifier)
    return rp, token


# -- resource servers: audience and introspection ------------------------------------------------


def test_a_resource_server_sees_the_tokens_meant_for_it(provider, resource_servers):
    orders, billing = resource_servers[ORDERS], resource_servers[BILLING]
    app = provider.client(name="Shop front", trusted=True)
    _, token = _code_flow_for(provider, app, "openid profile email", resource=ORDERS)

    assert _claims(provider, token["access_token"])["aud"] == ORDERS
    seen = _introspect(provider, orders, token["access_token"])
    assert seen["active"] is True and seen["aud"] == ORDERS and seen["sub"] == str(provider.user.id)
    # Not meant for billing: it learns nothing.
    assert _introspect(provider, billing, token["access_token"]) == {"active": False}

    # Revoked: the resource server sees it turn inactive, which it can now tell from "not mine".
    requests.post(provider.metadata["revocation_endpoint"], data={"token": token["access_token"]},
                  auth=(app["client_id"], app["client_secret"]), timeout=10)
    assert _introspect(provider, orders, token["access_token"]) == {"active": False}


def test_a_client_allowed_to_introspect_sees_every_token(provider, resource_servers):
    gateway = provider.client(name="Gateway", redirect_uris=[], grant_types=["client_credentials"],
                              can_introspect=True)
    plain = provider.client(name="Plain RS", redirect_uris=[], grant_types=["client_credentials"])
    app = provider.client(name="Any app", trusted=True)
    _, token, _ = code_flow(provider, provider.browser(), app)

    assert _claims(provider, token["access_token"])["aud"] == app["client_id"]  # none asked: the client
    assert _introspect(provider, gateway, token["access_token"])["active"] is True
    assert _introspect(provider, plain, token["access_token"]) == {"active": False}
    # Refresh tokens stay the client's own business, but an allowed introspector may see them.
    assert _introspect(provider, plain, token["refresh_token"]) == {"active": False}
    assert _introspect(provider, gateway, token["refresh_token"])["active"] is True


def test_client_credentials_for_a_resource_and_the_taiji_api_refuses_others_tokens(provider,
                                                                                    resource_servers):
    machine = provider.client(name="Batch", redirect_uris=[], grant_types=["client_credentials"],
                              scope="taiji:api")
    # The parameter repeated (RFC 8707 §2), as a form body encodes a list.
    answer = _token_post(provider, machine, grant_type="client_credentials", resource=[ORDERS, BILLING])
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert _claims(provider, token["access_token"])["aud"] == [ORDERS, BILLING]
    assert _introspect(provider, resource_servers[BILLING], token["access_token"])["active"] is True

    # A user's token asked for the orders API must not be replayable at Taiji's own API ...
    app = provider.client(name="Replayer", trusted=True, scope="openid taiji:api")
    _, for_orders = _code_flow_for(provider, app, "openid taiji:api", resource=ORDERS)
    me = requests.get(provider.base + "/api/v1/me", timeout=10,
                      headers={"Authorization": f"Bearer {for_orders['access_token']}"})
    assert me.status_code == 401 and 'error="invalid_token"' in me.headers["WWW-Authenticate"]
    # ... while one asked for Taiji's API (or for no resource) is accepted there.
    _, for_taiji = _code_flow_for(provider, app, "openid taiji:api", resource=provider.base + "/api")
    assert _claims(provider, for_taiji["access_token"])["aud"] == provider.base + "/api"
    assert requests.get(provider.base + "/api/v1/me", timeout=10, headers={
        "Authorization": f"Bearer {for_taiji['access_token']}"}).status_code == 200


def test_resource_indicators_are_checked_and_bind_the_grant(provider, resource_servers):
    machine = provider.client(name="Checker", redirect_uris=[], grant_types=["client_credentials"])
    for resource in ("https://unknown.example.test", ORDERS + "#fragment", "orders"):
        refused = _token_post(provider, machine, grant_type="client_credentials", resource=resource)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_target", resource

    app = provider.client(name="Bound", trusted=True)
    rp = relying_party(provider, app)
    response, _, _ = authorize(provider, provider.browser(), rp, resource="https://unknown.example.test",
                               state="s-42")
    assert response.status_code == 302 and response.headers["Location"].startswith(REDIRECT)
    sent_back = parse_qs(urlsplit(response.headers["Location"]).query)
    assert sent_back["error"] == ["invalid_target"] and sent_back["state"] == ["s-42"]

    # Authorized for orders only: a token (or a refreshed one) for billing is refused.
    rp = relying_party(provider, app)
    response, verifier, _ = authorize(provider, provider.browser(), rp, resource=ORDERS)
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    wider = requests.post(provider.metadata["token_endpoint"], auth=(app["client_id"], app["client_secret"]),
                          data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                "code_verifier": verifier, "resource": BILLING}, timeout=10)
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_target"
    token = rp.fetch_token(provider.metadata["token_endpoint"], code=code, code_verifier=verifier)
    assert _claims(provider, token["access_token"])["aud"] == ORDERS
    with pytest.raises(OAuthError) as refused:
        rp.refresh_token(provider.metadata["token_endpoint"], refresh_token=token["refresh_token"],
                         resource=BILLING)
    assert refused.value.error == "invalid_target"
    refreshed = rp.refresh_token(provider.metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert _claims(provider, refreshed["access_token"])["aud"] == ORDERS


# -- what a strict relying party checks -------------------------------------------------------------


def test_email_verified_says_whether_the_platform_vouches_for_the_address(provider):
    from taiji.modules.iam import services as iam

    provider.run(lambda: iam.create_user("vouched@example.com", "Vouched", PASSWORD, email_verified=True))
    app = provider.client(name="Strict RP", trusted=True)
    for email, vouched in (("vouched@example.com", True), (provider.user.email, False)):
        rp = relying_party(provider, app)
        response, verifier, _ = authorize(provider, provider.browser(email=email), rp)
        token = rp.fetch_token(provider.metadata["token_endpoint"],
                               authorization_response=response.headers["Location"], code_verifier=verifier)
        id_token = _claims(provider, token["id_token"])
        assert id_token["email"] == email and id_token["email_verified"] is vouched
        info = requests.get(provider.metadata["userinfo_endpoint"], timeout=10,
                            headers={"Authorization": f"Bearer {token['access_token']}"}).json()
        assert info["email_verified"] is vouched
    assert "email_verified" in provider.metadata["claims_supported"]


@pytest.mark.parametrize("parameter, error", [("request", "request_not_supported"),
                                              ("request_uri", "request_uri_not_supported")])
def test_request_objects_are_refused_not_ignored(provider, parameter, error):
    assert provider.metadata["request_parameter_supported"] is False
    assert provider.metadata["request_uri_parameter_supported"] is False
    app = provider.client(name=f"JAR {parameter}", trusted=True)
    value = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9." if parameter == "request" \
        else "https://rp.example.test/request.jwt"
    response, _, _ = authorize(provider, provider.browser(), relying_party(provider, app),
                               state="st-1", **{parameter: value})
    assert response.status_code == 302 and response.headers["Location"].startswith(REDIRECT)
    sent_back = parse_qs(urlsplit(response.headers["Location"]).query)
    assert sent_back["error"] == [error] and sent_back["state"] == ["st-1"] and "code" not in sent_back


def test_client_credentials_for_an_unregistered_scope_is_invalid_scope(provider):
    machine = provider.client(name="Narrow", redirect_uris=[], grant_types=["client_credentials"],
                              scope="tm:tenant:read")
    refused = _token_post(provider, machine, grant_type="client_credentials",
                          scope="tm:tenant:read taiji:api")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    assert "access_token" not in refused.json()
    granted = _token_post(provider, machine, grant_type="client_credentials", scope="tm:tenant:read")
    assert granted.status_code == 200 and granted.json()["scope"] == "tm:tenant:read"
    default = _token_post(provider, machine, grant_type="client_credentials")
    assert default.status_code == 200 and default.json()["scope"] == "tm:tenant:read"
    # Quoted back in error_description, a client's odd input must still give a 400, never a 500.
    for scope in ('tm:tenant:read "x"', "tm:tenant:read \\ é"):
        odd = _token_post(provider, machine, grant_type="client_credentials", scope=scope)
        assert odd.status_code == 400 and odd.json()["error"] == "invalid_scope", odd.text
    odd = _token_post(provider, machine, grant_type="client_credentials", resource='https://x.test/"é')
    assert odd.status_code == 400 and odd.json()["error"] == "invalid_target", odd.text


def test_retry_after_only_when_throttled(provider):
    machine = provider.client(name="Polite", redirect_uris=[], grant_types=["client_credentials"])
    ok = _token_post(provider, machine, grant_type="client_credentials")
    assert ok.status_code == 200 and "X-RateLimit-Limit" in ok.headers
    assert "Retry-After" not in ok.headers
    wrong = _token_post(provider, {**machine, "client_secret": "tjs_wrong"}, grant_type="client_credentials")
    assert wrong.status_code == 401 and "Retry-After" not in wrong.headers
    introspected = requests.post(provider.metadata["introspection_endpoint"], data={"token": "x"},
                                 auth=(machine["client_id"], machine["client_secret"]), timeout=10)
    assert introspected.status_code == 200 and "Retry-After" not in introspected.headers


@pytest.mark.parametrize("data, error", [
    ({}, "invalid_request"),
    ({"grant_type": ""}, "invalid_request"),
    ({"grant_type": ["client_credentials", "client_credentials"]}, "invalid_request"),
    ({"grant_type": "urn:example:unknown"}, "unsupported_grant_type"),
])
def test_token_endpoint_errors_follow_rfc_6749(provider, data, error):
    machine = provider.client(name="Sloppy", redirect_uris=[], grant_types=["client_credentials"])
    answer = _token_post(provider, machine, **data)
    assert answer.status_code == 400 and answer.json()["error"] == error, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")


# -- RFC 6750 §3.1: the bearer challenge -------------------------------------------------------------


def _challenge(response) -> str:
    return response.headers.get("WWW-Authenticate", "")


@pytest.mark.parametrize("path", ["/oauth/userinfo", "/api/v1/me"])
def test_no_credentials_get_a_challenge_without_an_error_code(provider, path):
    answer = requests.get(provider.base + path, timeout=10)
    assert answer.status_code == 401
    assert _challenge(answer).startswith("Bearer") and 'realm="taiji"' in _challenge(answer)
    assert "error=" not in _challenge(answer)


@pytest.mark.parametrize("path", ["/oauth/userinfo", "/api/v1/me"])
@pytest.mark.parametrize("token", ["not-a-token", "tj_pat_" + "x" * 40, "a.b.c"])
def test_a_bad_token_is_named_invalid_token(provider, path, token):
    answer = requests.get(provider.base + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 401
    assert re.search(r'error="invalid_token"', _challenge(answer)), _challenge(answer)


def test_userinfo_with_a_token_without_openid_is_insufficient_scope(provider):
    app = provider.client(name="API only", trusted=True, scope="openid taiji:api")
    _, token = _code_flow_for(provider, app, "openid taiji:api")
    # A token carrying only API scope (through a refresh that narrows it) is not for userinfo.
    rp = relying_party(provider, app, scope="taiji:api")
    narrowed = rp.refresh_token(provider.metadata["token_endpoint"], refresh_token=token["refresh_token"],
                                scope="taiji:api")
    answer = requests.get(provider.metadata["userinfo_endpoint"], timeout=10,
                          headers={"Authorization": f"Bearer {narrowed['access_token']}"})
    assert answer.status_code == 403
    assert 'error="insufficient_scope"' in _challenge(answer) and 'scope="openid"' in _challenge(answer)
