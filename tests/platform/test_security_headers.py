"""Security headers on every kind of answer (issue 12, finding 9): a console page, the API's JSON
and its problem+json errors, a static file, a redirect, the OpenAPI document and its page, the
protocol endpoints git and pip talk to. Framing (clickjacking of the token page) is refused;
browsers are told not to guess types, to keep our URLs to themselves and, behind https, to
never use plain http again. (tests/e2e checks that the console still works under the policy.)"""

from __future__ import annotations

import pytest

from taiji.platform import headers
from tests.factories import make_token

SCRIPT_SRC = "script-src 'self'"


def assert_hardened(response) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    assert SCRIPT_SRC in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.fixture
def signed_in(login, admin):
    return login(admin)


def test_console_pages_and_the_token_page_cannot_be_framed(signed_in, tenant):
    for path in ("/", f"/t/{tenant.slug}/", "/profile/tokens", f"/t/{tenant.slug}/packages"):
        response = signed_in.get(path)
        assert response.status_code == 200, path
        assert_hardened(response)


def test_sign_in_page_redirects_and_console_errors(client):
    assert_hardened(client.get("/login"))
    redirect = client.get("/profile/tokens")
    assert redirect.status_code == 302
    assert_hardened(redirect)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert_hardened(missing)


def test_api_json_and_problem_json(api_as, admin, anon_api, tenant):
    ok = api_as(admin).get("/api/v1/me")
    assert ok.status_code == 200 and ok.mimetype == "application/json"
    assert_hardened(ok)
    refused = anon_api.get("/api/v1/me")
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert_hardened(refused)
    invalid = api_as(admin).post("/api/v1/tenants", json={"slug": 5})
    assert invalid.status_code == 422
    assert_hardened(invalid)
    assert_hardened(anon_api.get("/healthz"))


def test_static_files_the_openapi_document_and_its_page(client):
    static = client.get("/static/js/taiji.js")
    assert static.status_code == 200
    assert_hardened(static)
    static.close()
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    assert_hardened(document)
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "redoc" in page.get_data(as_text=True)
    assert_hardened(page)
    # Redoc builds its search index in a worker made from a blob: URL; only this page allows it.
    assert "worker-src 'self' blob:" in page.headers["Content-Security-Policy"]
    assert "blob:" not in client.get("/login").headers["Content-Security-Policy"]


def test_protocol_endpoints_git_and_pip_talk_to(client, tenant, admin):
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db

    bpr.create_repository(tenant, {"name": "py", "kind": "pypi"})
    db.session.commit()
    git = client.get(f"/git/{tenant.slug}/nothing.git/info/refs?service=git-upload-pack")
    assert git.status_code == 401
    assert_hardened(git)
    token = {"Authorization": f"Bearer {make_token(admin)}"}
    simple = client.get(f"/pypi/{tenant.slug}/py/simple/", headers=token)
    assert simple.status_code == 200
    assert_hardened(simple)
    anonymous = client.get(f"/pypi/{tenant.slug}/py/simple/")
    assert anonymous.status_code == 401
    assert_hardened(anonymous)


def test_hsts_only_behind_https(app, client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    before = app.config["BASE_URL"]
    app.config["BASE_URL"] = "https://taiji.example"
    try:
        response = client.get("/login")
    finally:
        app.config["BASE_URL"] = before
    assert response.headers["Strict-Transport-Security"] == headers.HSTS
    assert int(headers.HSTS.split("=")[1]) >= 180 * 24 * 3600
