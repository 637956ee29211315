"""Acting as a browser (requests.Session) and as a relying party (Authlib's OAuth2Session)
against the Taiji served by the ``provider`` fixture."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session

from taiji.platform.db import db
from tests.factories import PASSWORD

REDIRECT = "http://127.0.0.1:9/callback"
LOGOUT_REDIRECT = "http://127.0.0.1:9/signed-out"


@dataclass
class Provider:
    app: object
    base: str
    metadata: dict
    user: object
    tenant_slug: str

    def run(self, work):
        """Run ``work()`` in the served app's context and commit."""
        with self.app.app_context():
            result = work()
            db.session.commit()
            return result

    def client(self, **kwargs) -> dict:
        from taiji.modules.iam.oauth import services

        def work():
            client, secret = services.create_client(
                kwargs.pop("name", "Tool"), kwargs.pop("redirect_uris", [REDIRECT]), **kwargs
            )
            return {"client_id": client.client_id, "client_secret": secret}

        return self.run(work)

    def browser(self, email=None, password=PASSWORD) -> requests.Session:
        """A browser signed in to the console through the login form (CSRF token included)."""
        session = requests.Session()
        sign_in(session, self.base + "/login", email or self.user.email, password)
        return session


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(session: requests.Session, login_url: str, email: str, password: str = PASSWORD,
            follow: bool = True):
    """Sign in as a browser does: the console's /login leads, through its own authorization
    request, to the provider's form; posting it runs the code flow back into the console.
    ``follow=False`` returns the form's own answer (the redirect to the waiting authorization)."""
    page = session.get(login_url)
    assert 'data-testid="login-form"' in page.text, page.url
    response = session.post(
        page.url, data={"email": email, "password": password, "csrf_token": csrf_token(page.text)},
        allow_redirects=follow)
    if not follow:
        assert response.status_code == 302, response.text[:300]
        return response
    assert response.history and response.history[0].status_code == 302, response.text[:300]
    assert "/login" not in urlsplit(response.url).path, response.url
    return response


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def relying_party(
    provider: Provider, creds: dict, scope="openid profile email", public=False
) -> OAuth2Session:
    return OAuth2Session(
        creds["client_id"],
        None if public else creds["client_secret"],
        scope=scope,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
    )


def authorize(provider: Provider, browser: requests.Session, rp: OAuth2Session, **params):
    """Send the browser to the authorization endpoint; approve consent if asked. Returns
    (final response, code verifier, nonce)."""
    verifier = secrets.token_urlsafe(48)
    nonce = params.pop("nonce", secrets.token_urlsafe(12))
    url, _ = rp.create_authorization_url(
        provider.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params
    )
    response = browser.get(url, allow_redirects=False)
    if response.status_code == 200 and 'data-testid="oauth-consent"' in response.text:
        response = browser.post(
            url, data={"decision": "approve", "csrf_token": csrf_token(response.text)}, allow_redirects=False
        )
    return response, verifier, nonce


def code_flow(provider: Provider, browser, creds, scope="openid profile email", public=False):
    """The whole code flow as a relying-party library does it. Returns (rp, token, nonce)."""
    rp = relying_party(provider, creds, scope=scope, public=public)
    response, verifier, nonce = authorize(provider, browser, rp)
    assert response.status_code == 302, response.text[:500]
    token = rp.fetch_token(
        provider.metadata["token_endpoint"],
        authorization_response=response.headers["Location"],
        code_verifier=verifier,
    )
    return rp, token, nonce
