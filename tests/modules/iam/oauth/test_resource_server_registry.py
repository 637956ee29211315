"""Registering a resource server: its resource indicator and the introspection flag, set by a
platform administrator through the API, the console and the CLI."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner

from taiji.modules.iam.oauth import cli, services
from taiji.modules.iam.oauth.models import OAuthClient
from taiji.platform.db import db
from tests.factories import database_state, make_user

ORDERS = "https://orders.example.test"


def test_the_api_registers_and_changes_a_resource_server(api_as, admin):
    api = api_as(admin)
    created = api.post("/api/v1/oauth/clients", json={
        "name": "Orders API", "grant_types": ["client_credentials"], "resource": ORDERS})
    assert created.status_code == 201, created.json
    assert created.json["resource"] == ORDERS and created.json["can_introspect"] is False
    client_id = created.json["client_id"]

    changed = api.patch(f"/api/v1/oauth/clients/{client_id}", json={"can_introspect": True})
    assert changed.status_code == 200 and changed.json["can_introspect"] is True
    cleared = api.patch(f"/api/v1/oauth/clients/{client_id}", json={"resource": None})
    assert cleared.json["resource"] is None
    assert "can_introspect" in api.get("/api/v1/openapi.json").get_data(as_text=True)


def test_bad_resource_servers_are_refused_and_change_nothing(api_as, admin, client):
    api = api_as(admin)
    api.post("/api/v1/oauth/clients", json={"name": "Orders", "grant_types": ["client_credentials"],
                                            "resource": ORDERS})
    api.get("/api/v1/me")
    before = database_state()
    for body, status in [
        ({"resource": ORDERS}, 409),  # another client serves it
        ({"resource": "http://taiji.test/api"}, 409),  # Taiji's own API
        ({"resource": "orders"}, 422),
        ({"resource": "https://orders.example.test/#frag"}, 422),
        ({"resource": "ftp://orders.example.test"}, 422),
        ({"public": True, "redirect_uris": ["https://spa.example.test/cb"], "can_introspect": True}, 422),
    ]:
        answer = api.post("/api/v1/oauth/clients",
                          json={"name": "Bad", "grant_types": ["client_credentials"], **body})
        assert answer.status_code == status, (body, answer.json)
        assert answer.mimetype == "application/problem+json"
    assert database_state() == before
    # Only platform administrators register clients.
    assert api_as(make_user()).post("/api/v1/oauth/clients", json={
        "name": "Mine", "grant_types": ["client_credentials"], "can_introspect": True}).status_code == 403


def test_the_console_sets_the_resource_and_the_flag(login, admin):
    browser = login(admin)
    created = browser.post("/admin/clients", data={
        "name": "Billing API", "grant_client_credentials": "on", "resource": "https://billing.example.test",
        "can_introspect": "on"})
    assert created.status_code == 303
    row = db.session.execute(sa.select(OAuthClient).where(OAuthClient.name == "Billing API")).scalar_one()
    assert row.resource == "https://billing.example.test" and row.can_introspect
    page = browser.get(f"/admin/clients/{row.client_id}").get_data(as_text=True)
    assert 'value="https://billing.example.test"' in page and 'name="can_introspect" checked' in page

    saved = browser.post(f"/admin/clients/{row.client_id}", data={
        "name": "Billing API", "grant_client_credentials": "on", "resource": "https://billing.example.test"})
    assert saved.status_code == 302
    db.session.refresh(row)
    assert row.can_introspect is False
    bad = browser.post(f"/admin/clients/{row.client_id}", data={
        "name": "Billing API", "grant_client_credentials": "on", "resource": "not a uri"})
    assert bad.status_code == 422 and "resource indicator" in bad.get_data(as_text=True)


def test_the_cli_sets_the_resource_and_the_flag(app):
    runner = CliRunner()
    made = runner.invoke(cli.clients, ["create", "--name", "Stock API", "--grant", "client_credentials",
                                       "--resource", "https://stock.example.test"], obj=app)
    assert made.exit_code == 0, made.output
    client_id = json.loads(made.output)["client_id"]
    assert json.loads(made.output)["resource"] == "https://stock.example.test"
    updated = runner.invoke(cli.clients, ["update", client_id, "--introspect"], obj=app)
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.output)["can_introspect"] is True
    refused = runner.invoke(cli.clients, ["update", client_id, "--resource", "nope"], obj=app)
    assert refused.exit_code == 2 and "resource indicator" in refused.output
    with app.app_context():
        row = services.get_client(client_id)
        assert row.can_introspect and row.resource == "https://stock.example.test"
