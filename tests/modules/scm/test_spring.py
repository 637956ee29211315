"""The Spring Cloud Config server API under /spring/<tenant>/: the requests a Spring Boot config
client sends, the Environment it expects, and the file forms read back by real parsers."""

from __future__ import annotations

import json

import javaproperties
import pytest
import yaml

from taiji.platform.db import db
from tests.factories import make_token
from tests.modules.scm.client_fixtures import basic, make_setup, spring_headers

V2 = "application/vnd.spring-cloud.config-server.v2+json"

@pytest.fixture
def setup(app):
    return make_setup()



def _names(body) -> list[str]:
    return [source["name"] for source in body["propertySources"]]


def test_a_spring_boot_clients_request_gets_the_environment(client, setup):
    # GET {uri}/{name}/{profile} exactly as ConfigServerConfigDataLoader sends it.
    headers = spring_headers(setup.keys["dev"])
    response = client.get(f"/spring/{setup.tenant.slug}/orders/dev", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == V2
    body = json.loads(response.data)
    assert set(body) == {"name", "profiles", "label", "version", "state", "propertySources"}
    assert (body["name"], body["profiles"], body["label"], body["version"], body["state"]) == \
        ("orders", ["dev"], None, "1", None)
    t = setup.tenant.slug
    # highest precedence first: the application namespace, then the others; each by layer
    assert _names(body) == [
        f"taiji:{t}/orders-dev (environment)", f"taiji:{t}/orders-dev (component)",
        f"taiji:{t}/orders-dev (product)", f"taiji:{t}/orders-dev (tenant)",
        f"taiji:{t}/orders-dev/db (environment)",
    ]
    sources = {s["name"]: s["source"] for s in body["propertySources"]}
    assert sources[f"taiji:{t}/orders-dev (environment)"]["pool.size"] == 8
    assert sources[f"taiji:{t}/orders-dev (component)"] == {"pool.size": 4}
    assert sources[f"taiji:{t}/orders-dev (environment)"]["db.password"] == "s3cret-dev"
    assert sources[f"taiji:{t}/orders-dev (environment)"]["features"] == '{"a":1}'  # JSON as text for Spring
    assert sources[f"taiji:{t}/orders-dev (tenant)"] == {"region": "global"}


def test_the_x_config_token_and_plain_json_accept(client, setup):
    response = client.get(f"/spring/{setup.tenant.slug}/orders/dev",
                          headers={"X-Config-Token": setup.keys["dev"], "Accept": "application/json"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["version"] == "1"


def test_several_profiles_the_last_wins(client, setup):
    token = make_token(setup.owner)
    body = client.get(f"/spring/{setup.tenant.slug}/orders/dev,prod", headers=basic(token)).get_json()
    assert body["profiles"] == ["dev", "prod"] and body["version"] == "1,1"
    assert body["propertySources"][0]["name"].endswith("orders-prod (environment)")
    merged = client.get(f"/spring/{setup.tenant.slug}/orders-dev,prod.properties", headers=basic(token))
    assert javaproperties.loads(merged.get_data(as_text=True))["greeting"] == "hello prod"
    # a key reads its own environment only: the other profile contributes nothing
    with_key = client.get(f"/spring/{setup.tenant.slug}/orders/dev,prod", headers=basic(setup.keys["dev"]))
    assert with_key.get_json()["version"] == "1"
    assert all("orders-dev" in name for name in _names(with_key.get_json()))


def test_a_label_is_a_namespace_and_an_unknown_one_is_404(client, setup):
    headers = spring_headers(setup.keys["dev"])
    body = client.get(f"/spring/{setup.tenant.slug}/orders/dev/db", headers=headers).get_json()
    assert body["label"] == "db"
    assert _names(body) == [f"taiji:{setup.tenant.slug}/orders-dev/db (environment)"]
    assert client.get(f"/spring/{setup.tenant.slug}/orders/dev/master", headers=headers).status_code == 404
    slashed = client.get(f"/spring/{setup.tenant.slug}/orders/dev/feature(_)x", headers=headers)
    assert slashed.status_code == 404 and "feature/x" in slashed.get_json()["detail"]


@pytest.mark.parametrize("extension", ["yml", "yaml", "properties", "json"])
def test_the_file_forms_parse_back(client, setup, extension):
    headers = basic(setup.keys["dev"])
    response = client.get(f"/spring/{setup.tenant.slug}/orders-dev.{extension}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    if extension == "properties":
        values = javaproperties.loads(text)
        assert values["pool.size"] == "8" and values["greeting"] == "hello dev"
        assert values["db.password"] == "s3cret-dev" and values["url"].startswith("jdbc:")
    else:
        values = yaml.safe_load(text) if extension != "json" else json.loads(text)
        assert values["pool"]["size"] == 8 and values["greeting"] == "hello dev"
        assert values["db"]["password"] == "s3cret-dev" and values["region"] == "global"
    labelled = client.get(f"/spring/{setup.tenant.slug}/db/orders-dev.{extension}", headers=headers)
    assert labelled.status_code == 200
    if extension == "properties":
        assert javaproperties.loads(labelled.get_data(as_text=True)) == {
            "greeting": "from db namespace", "url": "jdbc:postgresql://db/orders"}
    unknown = client.get(f"/spring/{setup.tenant.slug}/cache/orders-dev.{extension}", headers=headers)
    assert unknown.status_code == 404


def test_dashes_in_component_and_environment_names(client, setup):
    from taiji.modules.scm import services as scm
    from taiji.modules.spm import services as spm

    component = spm.create_component(setup.tenant, spm.get_product(setup.tenant, "shop"),
                                     {"name": "order-service", "layer": "base"})
    scm.put_item(setup.tenant, setup.owner, component, "pre-prod", "greeting", value="dashes")
    scm.publish(setup.tenant, setup.owner, component, "pre-prod")
    db.session.commit()
    token = basic(make_token(setup.owner))
    response = client.get(f"/spring/{setup.tenant.slug}/order-service-pre-prod.yml", headers=token)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert yaml.safe_load(response.data)["greeting"] == "dashes"


def test_spring_refusals(client, setup):
    other = make_setup()
    url = f"/spring/{setup.tenant.slug}/orders/dev"
    anonymous = client.get(url, headers={"Accept": V2})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    for headers in (spring_headers(setup.keys["prod"]), spring_headers(other.keys["dev"])):
        response = client.get(url, headers=headers)
        assert response.status_code == 404 and b"hello" not in response.data
    headers = spring_headers(setup.keys["dev"])
    bad = client.get(f"/spring/{setup.tenant.slug}/orders/DEV", headers=headers)
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    unknown = client.get(f"/spring/{setup.tenant.slug}/nothing/dev", headers=headers)
    assert unknown.status_code == 404 and "nothing" in unknown.get_json()["detail"]
    odd = client.get(f"/spring/{setup.tenant.slug}/orders.txt", headers=headers)
    assert odd.status_code == 404


def test_the_environment_follows_a_new_release(client, setup):
    from taiji.modules.scm import services as scm

    headers = spring_headers(setup.keys["dev"])
    first = client.get(f"/spring/{setup.tenant.slug}/orders/dev", headers=headers)
    scm.put_item(setup.tenant, setup.owner, setup.component, "dev", "greeting", value="refreshed")
    scm.publish(setup.tenant, setup.owner, setup.component, "dev")
    db.session.commit()
    second = client.get(f"/spring/{setup.tenant.slug}/orders/dev",
                        headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.get_json()["version"] == "2"
    assert second.get_json()["propertySources"][0]["source"]["greeting"] == "refreshed"
