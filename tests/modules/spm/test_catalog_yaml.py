"""Backstage catalog-info.yaml import and export."""

from __future__ import annotations

import yaml

from taiji.modules.spm import services
from tests.factories import make_member, make_tenant

from .conftest import Catalog

CATALOG = """
apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: shop
  title: The Shop
  tags: [retail]
spec:
  owner: team-shop
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: orders-api
  annotations:
    taiji.io/api-version: v2
spec:
  type: openapi
  lifecycle: production
  owner: team-orders
  system: shop
  definition: "openapi: 3.0.0"
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders
  annotations:
    taiji.io/layer: business-logic
    taiji.io/owns-database: orders-db
spec:
  type: service
  lifecycle: production
  owner: team-orders
  system: shop
  providesApis: [orders-api]
  dependsOn: [resource:orders-db]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: storefront
  annotations:
    taiji.io/layer: access
spec:
  type: website
  lifecycle: experimental
  owner: team-web
  system: shop
  consumesApis: [api:orders-api]
  dependsOn: [component:orders]
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: orders-db
  annotations:
    taiji.io/layer: base
spec:
  type: database
  owner: team-orders
  system: shop
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: broken
spec:
  type: service
  owner: x
  system: shop
  dependsOn: [component:ghost]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: nosystem
spec:
  type: service
  owner: x
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-shop
"""


def _import(catalog, text, content_type="application/yaml"):
    return catalog.api.post(
        f"{catalog.base}/catalog/import", data=text, headers={"Content-Type": content_type}
    )


def test_import_creates_products_components_and_reports_rejections(catalog):
    response = _import(catalog, CATALOG)
    assert response.status_code == 200, response.json
    report = response.json
    assert set(report["created"]) >= {
        "system:default/shop",
        "component:default/orders",
        "component:default/storefront",
        "resource:default/orders-db",
    }
    rejected = {r["entity"]: r["reason"] for r in report["rejected"]}
    assert "ghost" in rejected["component:default/broken"]
    assert "spec.system" in rejected["component:default/nosystem"]
    assert "Group" in rejected["group:default/team-shop"]
    product = catalog.api.get(f"{catalog.base}/products/shop").json
    assert (product["name"], product["owners"], product["tags"]) == ("The Shop", ["team-shop"], ["retail"])
    orders = catalog.api.get(f"{catalog.base}/products/shop/components/orders").json
    assert (orders["layer"], orders["owns_database"]) == ("business-logic", "orders-db")
    assert orders["provides"] == [{"name": "orders-api", "type": "rest", "version": "v2"}]
    web = catalog.api.get(f"{catalog.base}/products/shop/components/storefront").json
    assert web["kind"] == "frontend"
    deps = catalog.api.get(f"{catalog.base}/products/shop/components/storefront/dependencies").json
    assert [d["component"] for d in deps] == ["shop/orders"]
    db_component = catalog.api.get(f"{catalog.base}/products/shop/components/orders-db").json
    assert db_component["kind"] == "database"


def test_import_is_idempotent(catalog):
    _import(catalog, CATALOG)
    again = _import(catalog, CATALOG).json
    assert again["created"] == []
    assert again["updated"] == []
    assert "component:default/orders" in again["unchanged"]


def test_import_updates_what_changed(catalog):
    _import(catalog, CATALOG)
    changed = CATALOG.replace("taiji.io/layer: access", "taiji.io/layer: business-process")
    report = _import(catalog, changed).json
    assert report["updated"] == ["component:default/storefront"]
    web = catalog.api.get(f"{catalog.base}/products/shop/components/storefront").json
    assert web["layer"] == "business-process"


def test_bad_yaml_is_422_and_imports_nothing(catalog, tenant):
    response = _import(catalog, "kind: System\nmetadata: {name: [unclosed\n")
    assert response.status_code == 422
    assert "YAML" in response.json["errors"]["json"]["body"][0]
    assert _import(catalog, CATALOG, content_type="application/json").status_code == 422
    assert services.count_products(tenant) == 0


def test_viewer_cannot_import_and_outsider_gets_404(api_as, catalog, tenant):
    viewer = api_as(make_member(tenant, "viewer"))
    response = viewer.post(
        f"{catalog.base}/catalog/import", data=CATALOG, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 403
    outsider = api_as(make_member(make_tenant(), "owner"))
    assert outsider.get(f"{catalog.base}/catalog/export").status_code == 404
    assert services.count_products(tenant) == 0


def _rich(catalog):
    catalog.product(
        "shop", description="Sells", owners=["team-a", "team-b"], tags=["retail"], lifecycle="production"
    )
    catalog.product("platform")
    catalog.component(
        "platform",
        "auth",
        layer="common-service",
        version="3.0.0",
        owner="team-p",
        provides=[{"name": "auth", "type": "grpc", "version": "v1"}],
    )
    catalog.component("shop", "db", kind="database", layer="base")
    catalog.component(
        "shop",
        "orders",
        layer="business-logic",
        version="1.2.3",
        owns_database="db",
        repository_url="https://git.example.com/orders.git",
        tags=["core"],
        description="Orders",
        provides=[
            {"name": "orders", "type": "rest", "version": "v1"},
            {"name": "order-events", "type": "event", "version": "v1"},
        ],
        consumes=[{"name": "auth", "type": "grpc", "version": "v1"}],
    )
    catalog.component(
        "shop",
        "web",
        layer="access",
        kind="frontend",
        lifecycle="production",
        consumes=[{"name": "orders", "type": "rest", "version": "v1"}],
    )
    catalog.depend("shop", "orders", "db")
    catalog.depend("shop", "web", "orders", "^1.2")
    catalog.depend("shop", "orders", "platform/auth", ">=3,<4")
    catalog.third_party(
        "shop", "orders", "flask", version_range=">=3.1", license="BSD-3-Clause", purl="pkg:pypi/flask@3.1.0"
    )


def test_export_then_import_into_an_empty_tenant_gives_the_same_catalog(catalog, api_as, admin):
    _rich(catalog)
    exported = catalog.api.get(f"{catalog.base}/catalog/export")
    assert exported.status_code == 200
    assert exported.mimetype == "application/yaml"
    text = exported.get_data(as_text=True)
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(text))
    assert kinds.count("System") == 2 and kinds.count("Resource") == 1 and kinds.count("API") == 3

    empty = make_tenant(owner=admin)
    other = Catalog(api_as(admin), empty)
    report = _import(other, text).json
    assert report["rejected"] == []
    assert other.api.get(f"{other.base}/catalog/export").get_data(as_text=True) == text
    assert _import(other, text).json["created"] == []
    original = catalog.api.get(f"{catalog.base}/products/shop/components/orders").json
    copied = other.api.get(f"{other.base}/products/shop/components/orders").json
    for key in (
        "ref",
        "kind",
        "layer",
        "owner",
        "version",
        "repository_url",
        "owns_database",
        "tags",
        "provides",
        "consumes",
        "description",
    ):
        assert copied[key] == original[key], key


def test_a_yaml_bomb_is_refused_with_where_and_what_to_change(catalog, tenant):
    from tests.platform.test_safeyaml import billion_laughs, deep_nesting

    laughs = "kind: Component\nmetadata:\n  name: bomb\n  labels:\n" + "".join(
        f"    {line}\n" for line in billion_laughs().splitlines())
    response = _import(catalog, CATALOG + "---\n" + laughs)
    assert response.status_code == 422
    line = CATALOG.count("\n") + 6  # the first anchor, on the bomb's first label line
    assert response.json["errors"]["json"]["body"][0].startswith(
        f"line {line}, column 8: YAML anchors and aliases ('&a', '*a') are not accepted here; "
        "write the repeated part out in full")
    deep = _import(catalog, "kind: System\nmetadata:\n  name: deep\n  labels:\n    " + deep_nesting())
    assert deep.status_code == 422
    assert "nested more than 32 levels deep; flatten the structure" in deep.json["errors"]["json"]["body"][0]
    assert services.count_products(tenant) == 0
