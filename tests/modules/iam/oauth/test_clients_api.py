"""The OAuth client registry through the REST API and the CLI (platform administrators)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from taiji.modules.iam.oauth import cli, services
from tests.factories import make_user

URL = "/api/v1/oauth/clients"
GRAFANA = {"name": "Grafana", "redirect_uris": ["https://grafana.example.com/login/generic_oauth"]}


def test_anonymous_caller_gets_401(anon_api):
    response = anon_api.get(URL)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


def test_a_user_without_the_permission_gets_403(api_as):
    response = api_as(make_user()).post(URL, json=GRAFANA)
    assert response.status_code == 403
    assert "iam:client:write" in response.json["detail"]


def test_admin_registers_a_client_and_sees_the_secret_only_once(api_as, admin):
    api = api_as(admin)
    created = api.post(URL, json=GRAFANA)
    assert created.status_code == 201
    body = created.json
    assert body["client_id"].startswith("tjc_") and body["client_secret"].startswith("tjs_")
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert services.get_client(body["client_id"]).check_client_secret(body["client_secret"])

    listed = api.get(URL)
    assert listed.status_code == 200
    assert [c["client_id"] for c in listed.json] == [body["client_id"]]
    assert "client_secret" not in listed.json[0]
    one = api.get(f"{URL}/{body['client_id']}")
    assert one.status_code == 200 and "client_secret" not in one.json
    assert one.json["secret_prefix"] == body["client_secret"][:10]


def test_rotating_the_secret_stops_the_old_one(api_as, admin):
    api = api_as(admin)
    created = api.post(URL, json=GRAFANA).json
    rotated = api.post(f"{URL}/{created['client_id']}/secret")
    assert rotated.status_code == 200
    client = services.get_client(created["client_id"])
    assert client.check_client_secret(rotated.json["client_secret"])
    assert not client.check_client_secret(created["client_secret"])


def test_public_client_has_no_secret_to_rotate(api_as, admin):
    api = api_as(admin)
    created = api.post(URL, json={**GRAFANA, "public": True}).json
    assert created["client_secret"] is None and created["public"] is True
    response = api.post(f"{URL}/{created['client_id']}/secret")
    assert response.status_code == 422


def test_bad_registrations_are_refused_and_create_nothing(api_as, admin):
    api = api_as(admin)
    cases = [
        ({"name": "No redirect"}, "redirect_uris"),
        ({**GRAFANA, "redirect_uris": ["/relative/path"]}, "redirect_uris"),
        ({**GRAFANA, "redirect_uris": ["https://x.example.com/cb#frag"]}, "redirect_uris"),
        ({**GRAFANA, "scope": "openid root"}, "scope"),
        ({**GRAFANA, "public": True, "grant_types": ["client_credentials"]}, "grant_types"),
        ({**GRAFANA, "grant_types": ["password"]}, "grant_types"),
        ({"redirect_uris": GRAFANA["redirect_uris"]}, "name"),
    ]
    for payload, field in cases:
        response = api.post(URL, json=payload)
        assert response.status_code == 422, payload
        assert field in response.json["errors"]["json"], response.json
    assert api.get(URL).json == []


def test_delete_removes_the_client(api_as, admin):
    api = api_as(admin)
    created = api.post(URL, json=GRAFANA).json
    assert api.delete(f"{URL}/{created['client_id']}").status_code == 204
    assert api.get(f"{URL}/{created['client_id']}").status_code == 404
    assert api.delete(f"{URL}/{created['client_id']}").status_code == 404


def test_token_scopes_map_to_permissions_on_the_api(app):
    from taiji.modules.iam.oauth.scopes import api_permissions

    assert api_permissions("openid profile email") is False
    assert api_permissions("openid taiji:api") is None
    assert api_permissions("openid iam:user:read") == frozenset({"iam:user:read"})


def test_cli_creates_confidential_and_public_clients_and_rotates_keys(app):
    runner = CliRunner()
    result = runner.invoke(
        cli.clients,
        ["create", "--name", "Jenkins", "--redirect-uri", "https://ci.example.com/securityRealm/finishLogin"],
        obj=app,
    )
    assert result.exit_code == 0, result.output
    confidential = json.loads(result.output)
    assert confidential["client_id"].startswith("tjc_") and confidential["client_secret"].startswith("tjs_")

    result = runner.invoke(
        cli.clients,
        ["create", "--name", "SPA", "--redirect-uri", "http://localhost:5173/cb", "--public"],
        obj=app,
    )
    assert result.exit_code == 0 and "client_secret" not in json.loads(result.output)

    result = runner.invoke(
        cli.clients, ["create", "--name", "Backup", "--grant", "client_credentials"], obj=app
    )
    assert result.exit_code == 0 and json.loads(result.output)["grant_types"] == ["client_credentials"]

    result = runner.invoke(cli.clients, ["create", "--name", "Broken"], obj=app)
    assert result.exit_code == 2 and "redirect URI" in result.output

    result = runner.invoke(cli.keys, ["rotate", "--delay", "60"], obj=app)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["kid"] in {k["kid"] for k in services.published_keys()["keys"]}


def test_discovery_is_public_and_a_plain_http_issuer_is_refused_at_the_token_endpoint(
        client, app, monkeypatch):
    monkeypatch.setitem(app.config, "OAUTH_INSECURE_TRANSPORT", "false")
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["issuer"] == app.config["BASE_URL"]
    # The test application's issuer is http://taiji.test: neither https nor loopback.
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400 and response.json["error"] == "insecure_transport"
    page = client.get("/oauth/authorize?response_type=code&client_id=x")
    assert page.status_code == 400
