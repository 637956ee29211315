"""The OAuth client registry in the console (platform administrators) and its PATCH in the API."""

from __future__ import annotations

import re

import sqlalchemy as sa

from taiji.modules.iam.oauth import services
from taiji.modules.iam.oauth.models import OAuthClient
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.factories import make_user

GRAFANA = "https://grafana.example.com/login/generic_oauth"


def _secret(html: str) -> str:
    match = re.search(r'<code class="user-select-all">(tjs_[^<]+)</code>', html)
    assert match, "no secret on the page"
    return match.group(1)


def test_admin_registers_a_client_and_sees_the_secret_once(login, admin):
    client = login(admin)
    assert "No clients yet" in client.get("/admin/clients").get_data(as_text=True)
    created = client.post("/admin/clients", data={
        "name": "Grafana", "redirect_uris": GRAFANA + "\n", "scope": "openid profile email",
        "grant_authorization_code": "on", "grant_refresh_token": "on"})
    assert created.status_code == 303  # post/redirect/get: a reload cannot register it twice
    row = db.session.execute(sa.select(OAuthClient).where(OAuthClient.name == "Grafana")).scalar_one()
    assert created.headers["Location"].endswith(f"/admin/clients/{row.client_id}")
    secret = _secret(client.get(created.headers["Location"]).get_data(as_text=True))
    assert row.check_client_secret(secret) and row.redirect_uris == [GRAFANA]
    page = client.get(f"/admin/clients/{row.client_id}").get_data(as_text=True)
    assert secret not in page and row.secret_prefix in page
    assert "Grafana" in client.get("/admin/clients").get_data(as_text=True)
    assert db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "iam.oauth.client_created", AuditEntry.target == row.client_id)).first()


def test_bad_registrations_show_the_reason_and_create_nothing(login, admin):
    client = login(admin)
    answer = client.post("/admin/clients", data={"name": "Broken", "redirect_uris": "not a uri",
                                                 "grant_authorization_code": "on"})
    assert answer.status_code == 422
    assert "absolute URI" in answer.get_data(as_text=True)
    assert db.session.execute(sa.select(OAuthClient).where(OAuthClient.name == "Broken")).first() is None


def test_rotate_edit_disable_and_delete_from_the_console(login, admin):
    row, old = services.create_client("Jenkins", ["https://ci.example.com/cb"])
    client = login(admin)
    url = f"/admin/clients/{row.client_id}"
    rotated = client.post(url + "/secret")
    assert rotated.status_code == 303
    new = _secret(client.get(url).get_data(as_text=True))
    assert new not in client.get(url).get_data(as_text=True)
    assert new != old and row.check_client_secret(new) and not row.check_client_secret(old)

    edited = client.post(url, data={"name": "Jenkins CI", "redirect_uris": "https://ci.example.com/cb2",
                                    "scope": "openid email", "grant_authorization_code": "on"})
    assert edited.status_code == 302
    assert (row.name, row.redirect_uris, row.scope, row.grant_types) == (
        "Jenkins CI", ["https://ci.example.com/cb2"], "openid email", ["authorization_code"])
    emptied = {"name": "Jenkins CI", "redirect_uris": "", "grant_authorization_code": "on"}
    refused = client.post(url, data=emptied)
    assert refused.status_code == 422 and row.redirect_uris == ["https://ci.example.com/cb2"]

    assert client.post(url + "/enabled", data={"enabled": "false"}).status_code == 302
    assert row.enabled is False
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(row.client_id, new))
    assert token.status_code in (400, 401) and token.json["error"] == "invalid_client"

    assert client.post(url + "/delete").status_code == 302
    assert db.session.get(OAuthClient, row.id) is None


def test_only_platform_administrators_see_the_registry(login):
    client = login(make_user())
    assert client.get("/admin/clients").status_code == 403
    assert client.post("/admin/clients", data={"name": "X"}).status_code == 403


def test_patch_changes_a_client_and_validates_like_create(api_as, admin, anon_api):
    row, _secret = services.create_client("Portal", ["https://portal.example.com/cb"])
    api = api_as(admin)
    url = f"/api/v1/oauth/clients/{row.client_id}"
    assert anon_api.patch(url, json={"name": "X"}).status_code == 401
    assert api_as(make_user()).patch(url, json={"name": "X"}).status_code == 403
    bad = api.patch(url, json={"redirect_uris": ["relative/path"]})
    assert bad.status_code == 422 and row.redirect_uris == ["https://portal.example.com/cb"]
    changed = api.patch(url, json={"redirect_uris": ["https://portal.example.com/cb2"], "enabled": False})
    assert changed.status_code == 200
    assert changed.json["redirect_uris"] == ["https://portal.example.com/cb2"]
    assert changed.json["enabled"] is False
