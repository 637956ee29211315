"""Products over REST: every caller kind, validation, search, ETags, audit, events, quota."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform import quotas
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent
from tests.factories import make_member, make_tenant


def _count_products(tenant):
    from taiji.modules.spm import services

    return services.count_products(tenant)


def test_anonymous_caller_gets_401(anon_api, tenant):
    assert anon_api.get(f"/api/v1/tenants/{tenant.slug}/products").status_code == 401
    response = anon_api.post(f"/api/v1/tenants/{tenant.slug}/products", json={"slug": "shop", "name": "Shop"})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_member_of_another_tenant_gets_404(api_as, catalog, tenant):
    catalog.product("shop")
    outsider = make_member(make_tenant(), "owner")
    api = api_as(outsider)
    assert api.get(f"/api/v1/tenants/{tenant.slug}/products").status_code == 404
    assert api.get(f"/api/v1/tenants/{tenant.slug}/products/shop").status_code == 404
    response = api.post(f"/api/v1/tenants/{tenant.slug}/products", json={"slug": "x", "name": "X"})
    assert response.status_code == 404
    assert _count_products(tenant) == 1


def test_viewer_reads_but_cannot_create(api_as, catalog, tenant):
    catalog.product("shop")
    viewer = make_member(tenant, "viewer")
    api = api_as(viewer)
    assert [p["slug"] for p in api.get(f"/api/v1/tenants/{tenant.slug}/products").json] == ["shop"]
    response = api.post(f"/api/v1/tenants/{tenant.slug}/products", json={"slug": "x", "name": "X"})
    assert response.status_code == 403
    assert "spm:product:write" in response.json["detail"]
    assert _count_products(tenant) == 1


def test_member_creates_a_product_with_audit_entry_and_event(api_as, writer, tenant):
    response = api_as(writer).post(
        f"/api/v1/tenants/{tenant.slug}/products",
        json={
            "slug": "shop",
            "name": "Shop",
            "description": "Sells things",
            "owners": ["Team-Shop"],
            "tags": ["retail", "web"],
            "lifecycle": "production",
        },
    )
    assert response.status_code == 201
    assert response.json["owners"] == ["team-shop"]
    assert response.json["lifecycle"] == "production"
    entry = db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "spm.product.created")
    ).scalar_one()
    assert (entry.target, entry.actor_email, entry.tenant_id) == ("shop", writer.email, tenant.id)
    event = db.session.execute(
        sa.select(OutboxEvent).where(OutboxEvent.name == "spm.product.created")
    ).scalar_one()
    assert event.payload["product"] == "shop"


def test_bad_slug_is_422_with_field_error_and_creates_nothing(catalog, tenant):
    response = catalog.api.post(f"{catalog.base}/products", json={"slug": "Not A Slug!", "name": "X"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "slug" in response.json["errors"]["json"]
    response = catalog.api.post(
        f"{catalog.base}/products", json={"slug": "ok", "name": "X", "lifecycle": "eternal"}
    )
    assert response.status_code == 422
    assert "lifecycle" in response.json["errors"]["json"]
    assert _count_products(tenant) == 0


def test_duplicate_slug_is_409(catalog):
    catalog.product("shop")
    response = catalog.api.post(f"{catalog.base}/products", json={"slug": "shop", "name": "Again"})
    assert response.status_code == 409
    assert response.json["errors"]["json"]["slug"]


def test_search_and_filters_combine(catalog):
    catalog.product("shop", tags=["retail"], owners=["team-a"], lifecycle="production")
    catalog.product("stock", tags=["retail"], owners=["team-b"], description="Warehouse")
    catalog.product("chat", tags=["social"], owners=["team-a"])
    catalog.component("stock", "ledger", layer="base")

    def slugs(query):
        response = catalog.api.get(f"{catalog.base}/products?{query}")
        assert response.status_code == 200
        return sorted(p["slug"] for p in response.json)

    assert slugs("tag=retail") == ["shop", "stock"]
    assert slugs("tag=retail&owner=team-a") == ["shop"]
    assert slugs("q=warehouse") == ["stock"]
    assert slugs("lifecycle=production") == ["shop"]
    assert slugs("layer=base") == ["stock"]
    assert slugs("tag=ret") == []
    page = catalog.api.get(f"{catalog.base}/products?page_size=2&page=2")
    assert len(page.json) == 1
    assert '"total": 3' in page.headers["X-Pagination"]


def test_patch_needs_a_fresh_etag(catalog):
    catalog.product("shop")
    url = f"{catalog.base}/products/shop"
    assert catalog.api.patch(url, json={"name": "Shop 2"}).status_code == 428
    etag = catalog.api.get(url).headers["ETag"]
    response = catalog.api.patch(url, json={"name": "Shop 2", "tags": ["new"]}, headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.json["tags"] == ["new"]
    stale = catalog.api.patch(url, json={"name": "Shop 3"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert catalog.api.get(url).json["name"] == "Shop 2"


def test_products_quota_refuses_one_too_many(catalog, tenant):
    quotas.set_limit(tenant, "products", 1)
    db.session.commit()
    catalog.product("one")
    response = catalog.api.post(f"{catalog.base}/products", json={"slug": "two", "name": "Two"})
    assert response.status_code == 409
    assert "products" in response.json["detail"]
    assert _count_products(tenant) == 1


def test_delete_product_with_a_released_version_is_refused(catalog):
    catalog.product("shop")
    catalog.component("shop", "web", layer="access")
    catalog.api.post(f"{catalog.base}/products/shop/versions", json={"version": "1.0.0"})
    assert catalog.api.post(f"{catalog.base}/products/shop/versions/1.0.0/release").status_code == 200
    etag = catalog.api.get(f"{catalog.base}/products/shop").headers["ETag"]
    response = catalog.api.delete(f"{catalog.base}/products/shop", headers={"If-Match": etag})
    assert response.status_code == 409
    assert "retire" in response.json["detail"]


def test_unknown_product_is_404(catalog):
    assert catalog.api.get(f"{catalog.base}/products/nope").status_code == 404
