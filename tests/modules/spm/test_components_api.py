"""Components and dependencies over REST."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import db
from taiji.platform.events import OutboxEvent
from tests.factories import make_member, make_tenant


def test_component_with_apis_and_owned_database(catalog):
    catalog.product("shop")
    body = catalog.component(
        "shop",
        "orders",
        layer="business-logic",
        kind="service",
        owner="Team-Orders",
        repository_url="https://git.example.com/shop/orders.git",
        owns_database="orders-db",
        version="1.4.0",
        provides=[{"name": "orders", "type": "rest", "version": "v1"}],
        consumes=[{"name": "stock-events", "type": "event", "version": "v2"}],
    )
    assert body["ref"] == "shop/orders"
    assert body["owner"] == "team-orders"
    assert body["provides"] == [{"name": "orders", "type": "rest", "version": "v1"}]
    assert body["consumes"] == [{"name": "stock-events", "type": "event", "version": "v2"}]
    event = db.session.execute(
        sa.select(OutboxEvent).where(OutboxEvent.name == "spm.component.changed")
    ).scalar_one()
    assert event.payload["change"] == "created"


def test_layer_must_be_one_of_the_tenants(catalog):
    catalog.product("shop")
    response = catalog.api.post(
        f"{catalog.base}/products/shop/components", json={"name": "x", "layer": "cloud"}
    )
    assert response.status_code == 422
    assert "business-logic" in response.json["errors"]["json"]["layer"][0]
    assert catalog.api.get(f"{catalog.base}/products/shop/components").json == []


def test_bad_api_type_and_kind_are_422(catalog):
    catalog.product("shop")
    url = f"{catalog.base}/products/shop/components"
    assert catalog.api.post(url, json={"name": "x", "kind": "daemon"}).status_code == 422
    response = catalog.api.post(url, json={"name": "x", "provides": [{"name": "a", "type": "soap"}]})
    assert response.status_code == 422
    assert catalog.api.get(url).json == []


def test_viewer_cannot_add_components_and_other_tenant_sees_404(api_as, catalog, tenant):
    catalog.product("shop")
    catalog.component("shop", "web")
    url = f"{catalog.base}/products/shop/components"
    assert api_as(make_member(tenant, "viewer")).post(url, json={"name": "x"}).status_code == 403
    outsider = api_as(make_member(make_tenant(), "owner"))
    assert outsider.get(url).status_code == 404
    assert outsider.get(f"{url}/web/impact").status_code == 404


def test_patch_component_replaces_apis_with_etag(catalog):
    catalog.product("shop")
    catalog.component("shop", "orders", provides=[{"name": "orders", "version": "v1"}])
    url = f"{catalog.base}/products/shop/components/orders"
    etag = catalog.api.get(url).headers["ETag"]
    response = catalog.api.patch(
        url,
        json={"provides": [{"name": "orders", "version": "v2"}], "layer": "base"},
        headers={"If-Match": etag},
    )
    assert response.status_code == 200
    assert response.json["provides"] == [{"name": "orders", "type": "rest", "version": "v2"}]
    assert catalog.api.patch(url, json={"layer": "access"}, headers={"If-Match": etag}).status_code == 412


def test_dependencies_on_components_of_other_products_and_third_parties(catalog):
    catalog.product("shop")
    catalog.product("platform")
    catalog.component("shop", "orders", layer="business-logic")
    catalog.component("platform", "auth", layer="common-service")
    dep = catalog.depend("shop", "orders", "platform/auth", ">=2,<3")
    assert (dep["kind"], dep["component"], dep["version_range"]) == ("component", "platform/auth", ">=2,<3")
    third = catalog.third_party(
        "shop", "orders", "flask", version_range=">=3.1", license="BSD-3-Clause", purl="pkg:pypi/flask@3.1.0"
    )
    assert third["kind"] == "third-party"
    listed = catalog.api.get(f"{catalog.base}/products/shop/components/orders/dependencies").json
    assert {d["component"] or d["name"] for d in listed} == {"platform/auth", "flask"}


def test_bad_dependencies_are_422_or_409_and_change_nothing(catalog):
    catalog.product("shop")
    catalog.component("shop", "orders")
    url = f"{catalog.base}/products/shop/components/orders/dependencies"
    assert catalog.api.post(url, json={"component": "nowhere/ghost"}).status_code == 422
    assert catalog.api.post(url, json={"name": "lib", "purl": "not a purl"}).status_code == 422
    assert catalog.api.post(url, json={"name": "lib", "version_range": "\u00e9\u00e9"}).status_code == 422
    assert catalog.api.post(url, json={}).status_code == 422
    catalog.third_party("shop", "orders", "lib")
    assert catalog.api.post(url, json={"name": "lib"}).status_code == 409
    assert len(catalog.api.get(url).json) == 1


def test_component_others_depend_on_cannot_be_deleted(catalog):
    catalog.product("shop")
    catalog.component("shop", "web")
    catalog.component("shop", "orders")
    catalog.depend("shop", "web", "orders")
    url = f"{catalog.base}/products/shop/components/orders"
    response = catalog.api.delete(url, headers={"If-Match": catalog.api.get(url).headers["ETag"]})
    assert response.status_code == 409
    assert "shop/web" in response.json["detail"]
    dep_id = catalog.api.get(f"{catalog.base}/products/shop/components/web/dependencies").json[0]["id"]
    dep_url = f"{catalog.base}/products/shop/components/web/dependencies/{dep_id}"
    assert (
        catalog.api.delete(
            dep_url, headers={"If-Match": catalog.api.get(dep_url).headers["ETag"]}
        ).status_code
        == 204
    )
    assert (
        catalog.api.delete(url, headers={"If-Match": catalog.api.get(url).headers["ETag"]}).status_code == 204
    )


def test_catalog_search_across_products(catalog):
    catalog.product("shop")
    catalog.product("stock")
    catalog.component("shop", "orders", layer="business-logic", owner="team-a", tags=["core"])
    catalog.component("stock", "ledger", layer="business-logic", owner="team-b")
    catalog.component("stock", "ui", layer="access", owner="team-a", kind="frontend")

    def refs(query):
        response = catalog.api.get(f"{catalog.base}/components?{query}")
        assert response.status_code == 200
        return sorted(c["ref"] for c in response.json)

    assert refs("layer=business-logic") == ["shop/orders", "stock/ledger"]
    assert refs("owner=team-a") == ["shop/orders", "stock/ui"]
    assert refs("kind=frontend") == ["stock/ui"]
    assert refs("tag=core") == ["shop/orders"]
    assert refs("q=led") == ["stock/ledger"]
