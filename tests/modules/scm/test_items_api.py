"""Items of the draft through the REST API: typed values in every layer, the resolved view with
each value's source layer, and bad input refused with nothing changed."""

from __future__ import annotations

import pytest

from taiji.modules.spm import services as spm
from taiji.platform.db import db
from tests.factories import database_state


@pytest.fixture
def api(api_as, member):
    return api_as(member)


def _put(api, base, key, component="api", environment="dev", **body):
    return api.put(f"{base}/{component}/{environment}/items/{key}", json=body)


def _draft(api, base, component="api", environment="dev", **query):
    response = api.get(f"{base}/{component}/{environment}/draft", query_string=query)
    assert response.status_code == 200, response.json
    return {(i["namespace"], i["key"]): i for i in response.json["items"]}, response.json["overrides"]


def test_typed_items_in_every_layer_resolve_with_their_source_layer(api, base, shop):
    assert _put(api, base, "region", value="cn", layer="tenant").status_code == 200
    assert _put(api, base, "region", value="cn-north", layer="product").status_code == 200
    assert _put(api, base, "threads", value=4, type="int", layer="component").status_code == 200
    assert _put(api, base, "ratio", value=0.5, type="float", layer="environment").status_code == 200
    assert _put(api, base, "debug", value=True, type="bool").status_code == 200
    assert _put(api, base, "limits", value={"rps": 100}, type="json").status_code == 200
    assert _put(api, base, "banner.txt", value="hello\nworld\n", type="file").status_code == 200
    db_url = _put(api, base, "url", value="postgres://db", namespace="db", description="Main DB")
    assert db_url.status_code == 200
    assert _put(api, base, "threads", value=16, type="int", layer="label", label="tier in (gold,silver)"
                ).status_code == 200

    items, overrides = _draft(api, base)
    seen = {key: (item["value"], item["layer"]) for key, item in items.items()}
    assert seen == {
        ("application", "region"): ("cn-north", "product"),
        ("application", "threads"): (4, "component"),
        ("application", "ratio"): (0.5, "environment"),
        ("application", "debug"): (True, "environment"),
        ("application", "limits"): ({"rps": 100}, "environment"),
        ("application", "banner.txt"): ("hello\nworld\n", "environment"),
        ("db", "url"): ("postgres://db", "environment"),
    }
    assert items[("db", "url")]["description"] == "Main DB"
    assert [(o["key"], o["label"], o["value"]) for o in overrides] == [
        ("threads", "tier in (gold,silver)", 16)]
    labelled, _ = _draft(api, base, labels="tier=gold,zone=bj")
    assert (labelled[("application", "threads")]["value"], labelled[("application", "threads")]["layer"]) == (
        16, "label")
    # The other component of the product sees the tenant and product layers only.
    web, _ = _draft(api, base, component="web")
    assert {k: v["layer"] for k, v in web.items()} == {("application", "region"): "product"}


def test_a_text_spelling_the_type_is_taken_and_stored_typed(api, base, shop):
    assert _put(api, base, "port", value="8080", type="int").json["value"] == 8080
    assert _put(api, base, "on", value="yes", type="bool").json["value"] is True
    assert _put(api, base, "doc", value='{"a": [1, 2]}', type="json").json["value"] == {"a": [1, 2]}


@pytest.mark.parametrize("key, body, field", [
    ("conf", {"value": "{not json", "type": "json"}, "value"),
    ("port", {"value": "eighty", "type": "int"}, "value"),
    ("port", {"value": True, "type": "int"}, "value"),
    ("flag", {"value": "maybe", "type": "bool"}, "value"),
    ("ratio", {"value": "NaN", "type": "float"}, "value"),
    ("name", {"value": 5}, "value"),
    ("name", {"value": None}, "value"),
    ("name", {"value": "x" * 70000}, "value"),
    ("name", {"value": "x", "namespace": "Bad Namespace"}, "namespace"),
    ("name", {"value": "x", "layer": "label"}, "label"),
    ("name", {"value": "x", "layer": "label", "label": "zone in (bj"}, "label"),
    ("name", {"value": "x", "label": "zone=bj"}, "label"),
    (".hidden", {"value": "x"}, "key"),
    ("a" * 201, {"value": "x"}, "key"),
])
def test_bad_items_are_refused_with_the_field_and_change_nothing(api, base, shop, key, body, field):
    before = database_state()
    response = _put(api, base, key, **body)
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert field in response.json["errors"]["json"], response.json
    assert database_state() == before


def test_a_file_may_be_larger_than_other_values_up_to_its_own_limit(api, base, shop):
    assert _put(api, base, "big.txt", value="x" * 100_000, type="file").status_code == 200
    assert _put(api, base, "big.txt", value="x" * 300_000, type="file").status_code == 422


def test_unknown_or_ambiguous_components_and_bad_environments(api, base, shop, tenant):
    before = database_state()
    missing = _put(api, base, "k", component="nope", value="x")
    assert missing.status_code == 404 and "nope" in missing.json["detail"]
    assert _put(api, base, "k", environment="Not_An_Env", value="x").status_code == 404
    assert database_state() == before
    tools = spm.create_product(tenant, {"slug": "tools", "name": "Tools"})
    spm.create_component(tenant, tools, {"name": "api"})
    db.session.commit()
    before = database_state()
    ambiguous = _put(api, base, "k", value="x")
    assert ambiguous.status_code == 409
    assert "shop:api" in ambiguous.json["detail"] and "tools:api" in ambiguous.json["detail"]
    assert database_state() == before
    assert _put(api, base, "k", component="tools:api", value="x").status_code == 200
    assert _put(api, base, "k", component="shop:api", value="y").status_code == 200
    assert _draft(api, base, component="tools:api")[0][("application", "k")]["value"] == "x"


def test_delete_names_the_layer_and_an_absent_item_is_404(api, base, shop):
    _put(api, base, "k", value="component", layer="component")
    _put(api, base, "k", value="environment")
    path = f"{base}/api/dev/items/k"
    assert api.delete(path, query_string={"layer": "environment"}).status_code == 204
    items, _ = _draft(api, base)
    assert items[("application", "k")]["layer"] == "component"
    assert api.delete(path, query_string={"layer": "environment"}).status_code == 404
    assert api.delete(path, query_string={"layer": "component"}).status_code == 204


def test_a_viewer_reads_but_cannot_write(api_as, tenant, base, shop, api):
    from tests.factories import make_member

    viewer = api_as(make_member(tenant, "viewer"))
    _put(api, base, "k", value="x")
    assert viewer.get(f"{base}/api/dev/draft").status_code == 200
    assert _put(viewer, base, "k", value="y").status_code == 403


def test_components_with_configuration_are_listed(api, base, shop):
    assert api.get(base).json == []
    _put(api, base, "k", value="x")
    listed = api.get(base).json
    assert [(c["ref"], c["has_schema"]) for c in listed] == [("shop:api", False)]
