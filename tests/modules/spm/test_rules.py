"""Architecture rules, the graph and its questions."""

from __future__ import annotations

import json


def _rules(violations):
    return sorted((v["rule"], tuple(v["components"])) for v in violations)


def test_business_logic_must_not_depend_on_business_logic(catalog):
    catalog.product("shop")
    catalog.component("shop", "orders", layer="business-logic")
    catalog.component("shop", "pricing", layer="business-logic")
    catalog.depend("shop", "orders", "pricing")
    [violation] = catalog.violations("shop")
    assert violation["rule"] == "same-layer"
    assert violation["components"] == ["shop/orders", "shop/pricing"]
    assert violation["severity"] == "warning"
    assert "business-logic layer" in violation["message"]


def test_common_service_must_not_depend_on_common_service_and_severity_can_be_tightened(catalog):
    catalog.product("shop")
    catalog.component("shop", "auth", layer="common-service")
    catalog.component("shop", "mail", layer="common-service")
    catalog.depend("shop", "auth", "mail")
    catalog.set_severity(**{"same-layer": "error"})
    [violation] = catalog.violations("shop")
    assert (violation["rule"], violation["severity"]) == ("same-layer", "error")


def test_lower_layer_must_not_depend_on_higher(catalog):
    catalog.product("shop")
    catalog.component("shop", "storage", layer="base")
    catalog.component("shop", "checkout", layer="business-process")
    catalog.depend("shop", "storage", "checkout")
    [violation] = catalog.violations("shop")
    assert violation["rule"] == "upward-dependency"
    assert violation["severity"] == "error"
    assert "higher layer" in violation["message"]


def test_downward_dependencies_are_fine(catalog):
    catalog.product("shop")
    for name, layer in [
        ("web", "access"),
        ("checkout", "business-process"),
        ("orders", "business-logic"),
        ("auth", "common-service"),
        ("db", "base"),
    ]:
        catalog.component("shop", name, layer=layer)
    for a, b in [
        ("web", "checkout"),
        ("checkout", "orders"),
        ("orders", "auth"),
        ("auth", "db"),
        ("web", "db"),
    ]:
        catalog.depend("shop", a, b)
    assert catalog.violations("shop") == []


def test_cycle_of_one(catalog):
    catalog.product("shop")
    catalog.component("shop", "loop")
    catalog.depend("shop", "loop", "loop")
    [violation] = catalog.violations("shop")
    assert violation["rule"] == "cycle"
    assert violation["components"] == ["shop/loop"]
    assert "shop/loop → shop/loop" in violation["message"]


def test_cycle_of_two(catalog):
    catalog.product("shop")
    catalog.component("shop", "a")
    catalog.component("shop", "b")
    catalog.depend("shop", "a", "b")
    catalog.depend("shop", "b", "a")
    [violation] = catalog.violations("shop")
    assert violation["rule"] == "cycle"
    assert sorted(violation["components"]) == ["shop/a", "shop/b"]
    assert "cycle of 2 components" in violation["message"]


def test_cycle_of_five_across_products(catalog):
    catalog.product("shop")
    catalog.product("platform")
    names = ["shop/a", "shop/b", "platform/c", "platform/d", "shop/e"]
    for ref in names:
        product, name = ref.split("/")
        catalog.component(product, name)
    for source, target in zip(names, names[1:] + names[:1], strict=True):
        product, name = source.split("/")
        catalog.depend(product, name, target)
    [violation] = catalog.violations("shop")
    assert violation["rule"] == "cycle"
    assert sorted(violation["components"]) == sorted(names)
    assert "cycle of 5 components" in violation["message"]
    assert [v["rule"] for v in catalog.violations("platform")] == ["cycle"]


def test_using_a_database_another_component_owns(catalog):
    catalog.product("shop")
    catalog.component("shop", "orders-db", kind="database", layer="base")
    catalog.component("shop", "orders", layer="business-logic", owns_database="orders-db")
    catalog.component("shop", "reports", layer="business-logic")
    catalog.depend("shop", "orders", "orders-db")
    catalog.depend("shop", "reports", "orders-db")
    [violation] = catalog.violations("shop")
    assert violation["rule"] == "shared-database"
    assert violation["components"] == ["shop/reports", "shop/orders-db", "shop/orders"]
    assert "Call shop/orders's API" in violation["message"]


def test_two_owners_of_one_database(catalog):
    catalog.product("shop")
    catalog.component("shop", "a", owns_database="main")
    catalog.component("shop", "b", owns_database="main")
    assert _rules(catalog.violations("shop")) == [("shared-database", ("shop/a", "shop/b"))]


def test_api_consumption_counts_as_a_dependency(catalog):
    catalog.product("shop")
    catalog.component(
        "shop", "orders", layer="business-logic", provides=[{"name": "orders", "version": "v1"}]
    )
    catalog.component(
        "shop", "pricing", layer="business-logic", consumes=[{"name": "orders", "version": "v1"}]
    )
    assert _rules(catalog.violations("shop")) == [("same-layer", ("shop/pricing", "shop/orders"))]


def test_a_cycle_cannot_be_made_a_warning(catalog):
    current = catalog.api.get(f"{catalog.base}/catalog/rules")
    response = catalog.api.put(
        f"{catalog.base}/catalog/rules",
        json={"severities": {"cycle": "warning"}},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert response.status_code == 422
    assert catalog.api.get(f"{catalog.base}/catalog/rules").json["severities"]["cycle"] == "error"


def test_custom_layers_per_tenant(catalog, api_as, tenant):
    from tests.factories import make_member

    url = f"{catalog.base}/catalog/rules"
    etag = catalog.api.get(url).headers["ETag"]
    member = api_as(make_member(tenant, "member"))
    assert member.put(url, json={"layers": ["ui", "core"]}, headers={"If-Match": etag}).status_code == 403
    response = catalog.api.put(url, json={"layers": ["ui", "core"]}, headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.json["layers"] == ["ui", "core"]
    catalog.product("shop")
    catalog.component("shop", "engine", layer="core")
    catalog.component("shop", "page", layer="ui")
    catalog.depend("shop", "engine", "page")
    assert _rules(catalog.violations("shop")) == [("upward-dependency", ("shop/engine", "shop/page"))]
    etag = catalog.api.get(url).headers["ETag"]
    in_use = catalog.api.put(url, json={"layers": ["ui"]}, headers={"If-Match": etag})
    assert in_use.status_code == 409
    assert "core" in in_use.json["detail"]


def _chain(catalog):
    catalog.product("shop")
    catalog.component("shop", "web", layer="access")
    catalog.component(
        "shop", "orders", layer="business-logic", provides=[{"name": "orders", "version": "v1"}]
    )
    catalog.component("shop", "mobile", layer="access", consumes=[{"name": "orders", "version": "v1"}])
    catalog.component("shop", "auth", layer="common-service")
    catalog.component("shop", "store", layer="base")
    catalog.depend("shop", "web", "orders")
    catalog.depend("shop", "orders", "auth")
    catalog.depend("shop", "auth", "store")


def test_transitive_depends_on_and_impact(catalog):
    _chain(catalog)
    base = f"{catalog.base}/products/shop/components"
    deps = catalog.api.get(f"{base}/web/depends-on").json
    assert [(d["component"], d["depth"]) for d in deps] == [
        ("shop/orders", 1),
        ("shop/auth", 2),
        ("shop/store", 3),
    ]
    impact = catalog.api.get(f"{base}/auth/impact").json
    assert [(d["component"], d["depth"]) for d in impact] == [
        ("shop/orders", 1),
        ("shop/mobile", 2),
        ("shop/web", 2),
    ]


def test_impact_is_paginated_and_can_stop_at_a_depth(catalog):
    _chain(catalog)
    base = f"{catalog.base}/products/shop/components"
    first = catalog.api.get(f"{base}/auth/impact?page_size=2")
    assert json.loads(first.headers["X-Pagination"])["total"] == 3
    assert [d["component"] for d in first.json] == ["shop/orders", "shop/mobile"]
    second = catalog.api.get(f"{base}/auth/impact?page_size=2&page=2").json
    assert [d["component"] for d in second] == ["shop/web"]
    direct = catalog.api.get(f"{base}/web/depends-on?max_depth=1").json
    assert [d["component"] for d in direct] == ["shop/orders"]
    bad = catalog.api.get(f"{base}/web/depends-on?max_depth=0")
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"


def test_what_breaks_if_an_api_version_is_retired(catalog):
    _chain(catalog)
    catalog.component("shop", "app", layer="access")
    catalog.depend("shop", "app", "mobile")
    url = f"{catalog.base}/products/shop/components/orders/apis"
    body = catalog.api.get(f"{url}/orders/v1/retirement").json
    assert body["broken"] == ["shop/mobile"]
    assert [(d["component"], d["depth"]) for d in body["affected"]] == [("shop/mobile", 1), ("shop/app", 2)]
    assert catalog.api.get(f"{url}/orders/v9/retirement").status_code == 404
    assert catalog.api.get(f"{url}/ghost/v1/retirement").status_code == 404


def test_graph_marks_violating_nodes_and_edges(catalog):
    catalog.product("shop")
    catalog.product("platform")
    catalog.component("shop", "storage", layer="base")
    catalog.component("shop", "checkout", layer="business-process")
    catalog.component("platform", "auth", layer="common-service")
    catalog.depend("shop", "storage", "checkout")
    catalog.depend("shop", "checkout", "platform/auth")
    graph = catalog.api.get(f"{catalog.base}/products/shop/graph").json
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["platform/auth"]["external"] is True
    assert nodes["shop/storage"]["violation"] == "error"
    assert nodes["platform/auth"]["violation"] is None
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    assert edges[("shop/storage", "shop/checkout")]["violations"] == ["upward-dependency"]
    assert edges[("shop/checkout", "platform/auth")]["violations"] == []
    focused = catalog.api.get(f"{catalog.base}/products/shop/graph?focus=storage").json
    assert {n["id"] for n in focused["nodes"]} == {"shop/storage", "shop/checkout"}
