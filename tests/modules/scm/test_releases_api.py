"""Releases through the REST API: numbered and immutable, the diff before publishing, rollback as a
new release, four eyes, gray by selector and by percentage, the schema, the history."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from taiji.modules.scm import gray
from taiji.modules.scm import services as scm
from taiji.platform.db import db
from taiji.platform.errors import NotFound
from taiji.platform.events import OutboxEvent
from tests.factories import database_state, make_member


@pytest.fixture
def api(api_as, member):
    return api_as(member)


@pytest.fixture
def dev(base, shop):
    return f"{base}/api/dev"


def _set(api, dev, key, value, **body):
    response = api.put(f"{dev}/items/{key}", json={"value": value, **body})
    assert response.status_code == 200, response.json
    return response.json


def _publish(api, dev, **body):
    response = api.post(f"{dev}/releases", json=body)
    assert response.status_code == 201, response.json
    return response.json


def _events(name):
    return [row.payload for row in db.session.execute(
        sa.select(OutboxEvent).where(OutboxEvent.name == name)).scalars()]


def test_publish_makes_numbered_immutable_releases_and_the_diff_shows_what_changes(api, dev, tenant):
    _set(api, dev, "port", 8080, type="int")
    _set(api, dev, "password", "hunter2", secret=True)
    diff = api.get(f"{dev}/diff").json
    assert [(c["key"], c["change"], c["new"], c["masked"]) for c in diff] == [
        ("password", "added", None, True), ("port", "added", 8080, False)]

    first = _publish(api, dev, comment="first")
    assert (first["number"], first["status"], first["current"]) == (1, "published", True)
    assert first["comment"] == "first"
    assert api.get(f"{dev}/diff").json == []

    _set(api, dev, "port", 9090, type="int")
    _set(api, dev, "password", "hunter3", secret=True)
    api.delete(f"{dev}/items/password")
    diff = api.get(f"{dev}/diff").json
    assert [(c["key"], c["change"], c["old"], c["new"]) for c in diff] == [
        ("password", "removed", None, None), ("port", "changed", 8080, 9090)]
    second = _publish(api, dev, comment="second")
    assert second["number"] == 2

    # Release 1 is unchanged by later edits: its items are what was published.
    one = api.get(f"{dev}/releases/1").json
    assert {i["key"]: i["value"] for i in one["items"]} == {"port": 8080, "password": None}
    assert one["current"] is False and [i["masked"] for i in one["items"] if i["key"] == "password"] == [True]
    listed = api.get(f"{dev}/releases").json
    assert [(r["number"], r["current"]) for r in listed] == [(2, True), (1, False)]
    published = sorted(_events("scm.release.published"), key=lambda e: e["number"])
    assert [e["number"] for e in published] == [1, 2]
    assert published[0] == {
        "tenant": tenant.slug, "component": "api", "product": "shop", "environment": "dev", "number": 1,
        "gray": False, "author": api_member_email(api, tenant)}
    assert scm.config_for(tenant, "api", "dev").namespaces == {"application": {"port": 9090}}
    assert api.get(f"{dev}/releases/9").status_code == 404


def api_member_email(api, tenant):
    return api.get("/api/v1/me").json["email"]


def test_rollback_makes_a_new_current_release_copying_the_old_one(api, dev, tenant):
    _set(api, dev, "port", 1, type="int")
    _publish(api, dev)
    _set(api, dev, "port", 2, type="int")
    _publish(api, dev)
    response = api.post(f"{dev}/releases/1/rollback", json={})
    assert response.status_code == 201, response.json
    assert (response.json["number"], response.json["comment"], response.json["rolled_back_from"]) == (
        3, "Rollback to #1", 1)
    assert scm.config_for(tenant, "api", "dev").namespaces["application"] == {"port": 1}
    assert [e["from_number"] for e in _events("scm.release.rolled_back")] == [1]
    # The draft is untouched: it still says 2, and the diff says so.
    assert [(c["old"], c["new"]) for c in api.get(f"{dev}/diff").json] == [(1, 2)]


def test_four_eyes_refuses_the_author_and_lets_a_second_member_publish(api, api_as, dev, tenant, admin):
    owner = api_as(admin)
    assert owner.put(f"/api/v1/tenants/{tenant.slug}/config-policies/dev", json={"four_eyes": True}
                     ).status_code == 200
    _set(api, dev, "port", 1, type="int")
    pending = _publish(api, dev, comment="please review")
    assert pending["status"] == "pending" and pending["current"] is False
    assert api.get(f"/api/v1/tenants/{tenant.slug}/config/api/dev/releases").json[0]["status"] == "pending"
    with pytest.raises(NotFound, match="Nothing published"):
        scm.config_for(tenant, "api", "dev")

    before = database_state()
    refused = api.post(f"{dev}/releases/1/approve", json={})
    assert refused.status_code == 403 and "someone other than the author" in refused.json["detail"]
    assert database_state() == before
    assert api.post(f"{dev}/releases", json={}).status_code == 409  # one pending at a time

    second = api_as(make_member(tenant, "member"))
    approved = second.post(f"{dev}/releases/1/approve", json={})
    assert approved.status_code == 200, approved.json
    assert (approved.json["status"], approved.json["current"]) == ("published", True)
    assert scm.config_for(tenant, "api", "dev").release == 1

    _set(api, dev, "port", 2, type="int")
    assert _publish(api, dev)["status"] == "pending"
    assert second.post(f"{dev}/releases/2/reject", json={}).json["status"] == "rejected"
    assert scm.config_for(tenant, "api", "dev").release == 1
    assert api.post(f"{dev}/releases/2/approve", json={}).status_code == 409
    # Another environment has no such policy.
    prod = dev.replace("/dev", "/prod")
    assert _publish(api, prod)["status"] == "published"


def test_gray_by_selector_reaches_matching_instances_until_promoted(api, dev, tenant):
    _set(api, dev, "color", "blue")
    _publish(api, dev)
    _set(api, dev, "color", "green")
    grey = _publish(api, dev, gray={"selector": "zone=bj"})
    assert grey["status"] == "gray" and grey["gray"] == {"selector": "zone=bj", "percentage": None}
    assert [e["gray"] for e in _events("scm.release.published") if e["number"] == 2] == [True]

    def color(instance=None, labels=None):
        config = scm.config_for(tenant, "api", "dev", instance=instance, labels=labels)
        return config.namespaces["application"]["color"], config.gray

    assert color("i-1", "zone=bj") == ("green", True)
    assert color("i-2", "zone=sh") == ("blue", False)
    assert color(None, "zone=bj") == ("blue", False)  # without an instance id, never gray
    assert api.post(f"{dev}/releases", json={"gray": {"percentage": 10}}).status_code == 409
    assert api.post(f"{dev}/releases/2/promote", json={}).json["status"] == "published"
    assert color("i-2", "zone=sh") == ("green", False)


def test_gray_by_percentage_is_stable_and_abandon_returns_everyone(api, dev, tenant, shop):
    _set(api, dev, "color", "blue")
    _publish(api, dev)
    _set(api, dev, "color", "green")
    _publish(api, dev, gray={"percentage": 30})
    instances = [f"pod-{n}" for n in range(200)]

    def color(instance):
        return scm.config_for(tenant, "api", "dev", instance=instance).merged()["color"]

    chosen = {i for i in instances if color(i) == "green"}
    expected = {i for i in instances if gray.bucket(shop.id, "dev", i) < 3000}
    assert chosen == expected and 30 < len(chosen) < 90
    again = {i for i in instances if scm.release_for(tenant, shop, "dev", instance=i).number == 2}
    assert again == chosen
    assert api.post(f"{dev}/releases/2/abandon", json={}).json["status"] == "abandoned"
    assert all(scm.release_for(tenant, shop, "dev", instance=i).number == 1 for i in instances)


@pytest.mark.parametrize("gray_body", [{"selector": "zone in (bj"}, {"percentage": 0}, {"percentage": 101},
                                       {}, {"selector": "a=b", "percentage": 5}])
def test_bad_gray_rules_are_refused(api, dev, gray_body):
    _set(api, dev, "k", "v")
    before = database_state()
    response = api.post(f"{dev}/releases", json={"gray": gray_body})
    assert response.status_code == 422, response.json
    assert database_state() == before


def test_a_schema_violation_is_refused_with_field_paths(api, api_as, admin, dev, tenant, base):
    schema = {"type": "object", "required": ["port", "name"],
              "properties": {"port": {"type": "integer", "maximum": 65535},
                             "limits": {"type": "object", "properties": {"rps": {"type": "integer"}}},
                             "password": {"type": "string", "minLength": 12}}}
    owner = api_as(admin)
    bad_schema = owner.put(f"{base}/api/schema", json={"schema": {"type": "no-such-type"}})
    assert bad_schema.status_code == 422
    assert api.put(f"{base}/api/schema", json={"schema": schema}).status_code == 403  # scm:admin
    assert owner.put(f"{base}/api/schema", json={"schema": schema}).status_code == 200
    assert api.get(f"{base}/api/schema").json == {"schema": schema}

    _set(api, dev, "port", 70000, type="int")
    _set(api, dev, "limits", {"rps": "many"}, type="json")
    _set(api, dev, "password", "short-pw", secret=True)
    before = database_state()
    refused = api.post(f"{dev}/releases", json={})
    assert refused.status_code == 422, refused.json
    errors = refused.json["errors"]["json"]
    assert set(errors) == {"$", "$.port", "$.limits.rps", "$.password"}
    assert "'name' is a required property" in errors["$"][0]
    assert "short-pw" not in refused.get_data(as_text=True)
    assert database_state() == before

    _set(api, dev, "port", 8080, type="int")
    _set(api, dev, "name", "shop")
    _set(api, dev, "limits", {"rps": 5}, type="json")
    _set(api, dev, "password", "long-enough-password", secret=True)
    assert api.post(f"{dev}/releases", json={}).status_code == 201
    assert owner.delete(f"{base}/api/schema").status_code == 204
    assert api.get(f"{base}/api/schema").json == {"schema": None}


def test_history_shows_changes_and_secrets_only_as_changed(api, dev, tenant):
    _set(api, dev, "port", 1, type="int")
    _set(api, dev, "port", 2, type="int")
    _set(api, dev, "password", "first-secret", secret=True)
    _set(api, dev, "password", "second-secret", secret=True)
    _set(api, dev, "region", "cn", layer="tenant")
    _publish(api, dev, comment="go")
    response = api.get(f"{dev}/history")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "first-secret" not in text and "second-secret" not in text
    rows = [(h["action"], h["key"], h["old"], h["new"], h["secret"]) for h in response.json]
    assert rows == [
        ("release.published", "", None, None, False),
        ("item.created", "region", None, "cn", False),
        ("item.updated", "password", None, None, True),
        ("item.created", "password", None, None, True),
        ("item.updated", "port", 1, 2, False),
        ("item.created", "port", None, 1, False),
    ]
    assert response.json[0]["release"] == 1


def test_the_diff_lists_label_layer_items_by_their_selector(api, dev):
    _set(api, dev, "threads", 4, type="int")
    _set(api, dev, "threads", 8, type="int", layer="label", label="tier=gold")
    _publish(api, dev)
    _set(api, dev, "threads", 16, type="int", layer="label", label="tier=gold")
    _set(api, dev, "threads", 2, type="int", layer="label", label="tier=bronze")
    diff = api.get(f"{dev}/diff").json
    assert [(c["key"], c["label"], c["change"], c["old"], c["new"]) for c in diff] == [
        ("threads", "tier=bronze", "added", None, 2), ("threads", "tier=gold", "changed", 8, 16)]


def test_the_openapi_document_describes_the_configuration_routes(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    base = "/api/v1/tenants/{tenant}/config/{component}/{environment}"
    for path in (f"{base}/items/{{config_key}}", f"{base}/draft", f"{base}/diff", f"{base}/releases",
                 f"{base}/releases/{{release_number}}/rollback", "/api/v1/tenants/{tenant}/config-keys"):
        assert path in paths, path
    responses = paths[f"{base}/items/{{config_key}}"]["put"]["responses"]
    assert {"200", "422", "default"} <= set(responses)
