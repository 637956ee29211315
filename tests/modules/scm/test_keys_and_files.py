"""Access keys (shown once, stored hashed, revocable, one environment of one tenant), environment
policies listed, and a namespace imported and exported as a file."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from taiji.modules.scm import services as scm
from taiji.modules.scm.models import AccessKey
from taiji.platform.db import db
from tests.factories import database_state, make_tenant, make_user


@pytest.fixture
def owner(api_as, admin):
    return api_as(admin)


def test_an_access_key_is_shown_once_stored_hashed_and_authenticates_until_revoked(owner, tenant):
    keys = f"/api/v1/tenants/{tenant.slug}/config-keys"
    created = owner.post(keys, json={"environment": "prod", "description": "payments pods"})
    assert created.status_code == 201, created.json
    token = created.json["token"]
    assert token.startswith(f"tjc_{created.json['id']}_")
    listed = owner.get(keys).json
    assert [(k["environment"], k["description"]) for k in listed] == [("prod", "payments pods")]
    assert "token" not in listed[0]
    row = db.session.get(AccessKey, created.json["id"])
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(database_state())

    key = scm.authenticate_access_key(token)
    assert (key.tenant_id, key.environment) == (tenant.id, "prod")
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "tjc_1_short", "", None, "tjc_" + "9" * 19
                  + "_" + "a" * 43, token.replace("tjc_", "tjk_")):
        assert scm.authenticate_access_key(wrong) is None

    assert owner.delete(f"{keys}/{created.json['id']}").status_code == 204
    assert scm.authenticate_access_key(token) is None
    assert owner.get(keys).json == []
    assert owner.delete(f"{keys}/{created.json['id']}").status_code == 404


def test_access_keys_are_the_tenants_own_and_need_scm_admin(api_as, owner, tenant, member):
    keys = f"/api/v1/tenants/{tenant.slug}/config-keys"
    created = owner.post(keys, json={"environment": "dev"}).json
    other_owner = make_user()
    other = make_tenant(owner=other_owner)
    db.session.commit()
    assert api_as(other_owner).delete(f"/api/v1/tenants/{other.slug}/config-keys/{created['id']}"
                                      ).status_code == 404
    assert api_as(member).get(keys).status_code == 403
    assert owner.post(keys, json={"environment": "Prod!"}).status_code == 422


def test_policies_are_listed(owner, tenant):
    base = f"/api/v1/tenants/{tenant.slug}/config-policies"
    assert owner.get(base).json == []
    assert owner.put(f"{base}/prod", json={"four_eyes": True}).json["four_eyes"] is True
    assert owner.put(f"{base}/Not_An_Env", json={"four_eyes": True}).status_code == 404
    assert [(p["environment"], p["four_eyes"]) for p in owner.get(base).json] == [("prod", True)]


@pytest.fixture
def dev(base, shop):
    return f"{base}/api/dev"


def test_import_then_export_round_trips_through_real_parsers(api_as, member, dev, tenant):
    api = api_as(member)
    api.put(f"{dev}/items/threads", json={"value": 2, "type": "int"})
    api.put(f"{dev}/items/password", json={"value": "kept-secret", "secret": True})
    text = "server:\n  port: 8080\n  host: example.com\nthreads: 8\nflags: [a, b]\npassword: new-secret\n"
    dry = api.post(f"{dev}/import?format=yaml&dry_run=true", data=text, content_type="application/yaml")
    assert dry.status_code == 200, dry.json
    assert (sorted(dry.json["added"]), sorted(dry.json["changed"])) == (
        ["flags", "server.host", "server.port"], ["password", "threads"])
    assert api.get(f"{dev}/draft").json["items"][-1]["key"] == "threads"  # nothing written by the dry run
    done = api.post(f"{dev}/import?format=yaml", data=text, content_type="application/yaml")
    assert done.status_code == 200 and done.json["dry_run"] is False
    items = {i["key"]: i for i in api.get(f"{dev}/draft").json["items"]}
    assert items["server.port"]["value"] == 8080 and items["server.port"]["type"] == "int"
    assert items["flags"]["value"] == ["a", "b"] and items["flags"]["type"] == "json"
    assert items["password"]["masked"]  # still secret
    assert scm.reveal_secret(tenant, None, "api", "dev", "password") == "new-secret"

    exported = api.get(f"{dev}/export?format=json")
    assert exported.mimetype == "application/json"
    data = json.loads(exported.get_data(as_text=True))
    assert "password" not in json.dumps(data)  # secrets are left out of files
    as_yaml = yaml.safe_load(api.get(f"{dev}/export?format=yaml").get_data(as_text=True))
    assert as_yaml and "password" not in json.dumps(as_yaml)
    again = api.post(f"{dev}/import?format=json", data=exported.get_data(), content_type="application/json")
    assert again.json["added"] == [] and again.json["changed"] == []


@pytest.mark.parametrize("fmt, text", [
    ("yaml", "a: [unclosed"),
    ("json", "{\"a\": }"),
    ("properties", "threads=eight\n"),
    ("xml", "<a/>"),
])
def test_a_bad_file_imports_nothing(api_as, member, dev, fmt, text):
    api = api_as(member)
    api.put(f"{dev}/items/threads", json={"value": 2, "type": "int"})
    before = database_state()
    response = api.post(f"{dev}/import?format={fmt}", data=text, content_type="text/plain")
    assert response.status_code == 422, response.json
    assert database_state() == before
