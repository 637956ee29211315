"""An OAuth access token handed to an application cannot turn itself into a personal access token."""

from __future__ import annotations

import pytest
import requests

from .relying_party import code_flow

pytestmark = pytest.mark.live


def _call(provider, method, path, token, **kwargs):
    return requests.request(method, provider.base + path, headers={"Authorization": f"Bearer {token}"},
                            timeout=10, **kwargs)


@pytest.mark.parametrize("scope", ["openid taiji:api", "openid iam:account:write"])
def test_an_oauth_access_token_cannot_create_or_manage_personal_tokens(provider, scope):
    creds = provider.client(name=f"App {scope}", trusted=True, scope=scope)
    _, token, _ = code_flow(provider, provider.browser(), creds, scope=scope)
    access = token["access_token"]

    minted = _call(provider, "POST", "/api/v1/me/tokens", access, json={"name": "forever"})
    assert minted.status_code == 403, minted.text
    assert minted.headers["Content-Type"].startswith("application/problem+json")
    assert "OAuth" in minted.json()["detail"]
    assert _call(provider, "GET", "/api/v1/me/tokens", access).status_code == 403
    assert _call(provider, "DELETE", "/api/v1/me/tokens/1", access).status_code == 403
    # The token still does what it was granted for.
    assert _call(provider, "GET", "/api/v1/me", access).status_code == 200
