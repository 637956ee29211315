"""SPM console pages: product list, creating a product, the product page and its graph."""

from __future__ import annotations

from tests.factories import make_member, make_tenant


def test_empty_product_list_invites_creating_one(login, admin, tenant):
    client = login(admin)
    page = client.get(f"/t/{tenant.slug}/products")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="empty-state"' in html
    assert "No products yet" in html
    assert 'data-testid="product-form"' in html


def test_create_product_from_the_console(login, admin, tenant):
    client = login(admin)
    response = client.post(
        f"/t/{tenant.slug}/products",
        data={
            "slug": "shop",
            "name": "Shop",
            "lifecycle": "experimental",
            "owners": "team-a",
            "tags": "retail, web",
        },
    )
    assert response.status_code == 302
    listing = client.get(f"/t/{tenant.slug}/products?tag=web").get_data(as_text=True)
    assert 'data-slug="shop"' in listing
    assert client.get(f"/t/{tenant.slug}/products?tag=nope").get_data(as_text=True).count("data-slug=") == 0


def test_bad_slug_in_the_console_shows_the_error(login, admin, tenant):
    client = login(admin)
    response = client.post(
        f"/t/{tenant.slug}/products", data={"slug": "Bad Slug", "name": "X", "lifecycle": "experimental"}
    )
    assert response.status_code == 422
    assert "lowercase" in response.get_data(as_text=True)


def test_product_page_draws_the_graph_with_the_violation_highlighted(login, admin, tenant, catalog):
    catalog.product("shop")
    catalog.component("shop", "storage", layer="base")
    catalog.component("shop", "checkout", layer="business-process")
    catalog.depend("shop", "storage", "checkout")
    html = login(admin).get(f"/t/{tenant.slug}/products/shop").get_data(as_text=True)
    assert 'data-testid="dependency-graph"' in html
    assert 'data-component="shop/storage" data-violation="error"' in html
    assert 'data-component="shop/checkout" data-violation="error"' in html
    assert 'data-testid="graph-edge" data-violation="true"' in html
    assert 'data-rule="upward-dependency"' in html


def test_viewer_sees_the_page_without_forms(login, tenant, catalog):
    catalog.product("shop")
    viewer = make_member(tenant, "viewer")
    html = login(viewer).get(f"/t/{tenant.slug}/products/shop").get_data(as_text=True)
    assert "component-form" not in html
    response = login(viewer).post(f"/t/{tenant.slug}/products/shop/components", data={"name": "x"})
    assert response.status_code == 403


def test_add_component_dependency_and_release_from_the_console(login, admin, tenant, catalog):
    catalog.product("shop")
    client = login(admin)
    base = f"/t/{tenant.slug}/products/shop"
    assert (
        client.post(
            f"{base}/components",
            data={"name": "web", "kind": "frontend", "layer": "access", "version": "1.0.0"},
        ).status_code
        == 302
    )
    assert (
        client.post(
            f"{base}/components",
            data={
                "name": "api",
                "kind": "service",
                "layer": "business-logic",
                "version": "1.0.0",
                "provides": "orders:rest:v1",
            },
        ).status_code
        == 302
    )
    assert (
        client.post(
            f"{base}/dependencies", data={"source": "web", "target": "api", "version_range": "^1"}
        ).status_code
        == 302
    )
    assert client.post(f"{base}/versions", data={"version": "1.0.0"}).status_code == 302
    assert client.post(f"{base}/versions/1.0.0/release").status_code == 302
    html = client.get(base).get_data(as_text=True)
    assert 'data-version="1.0.0"' in html and "released" in html


def test_member_of_another_tenant_gets_404_on_console_pages(login, tenant, catalog):
    catalog.product("shop")
    outsider = make_member(make_tenant(), "owner")
    client = login(outsider)
    assert client.get(f"/t/{tenant.slug}/products").status_code == 404
    assert client.get(f"/t/{tenant.slug}/products/shop").status_code == 404


def test_product_page_in_chinese_shows_its_badges_as_words(login, admin, tenant, catalog):
    catalog.product("shop", lifecycle="production")
    catalog.component("shop", "storage", layer="base", kind="service")
    catalog.component("shop", "checkout", layer="business-process")
    catalog.depend("shop", "storage", "checkout")
    created = catalog.api.post(f"{catalog.base}/products/shop/versions", json={"version": "1.0.0"})
    assert created.status_code == 201, created.json
    client = login(admin)
    client.post("/locale", data={"locale": "zh_Hans"})
    html = client.get(f"/t/{tenant.slug}/products/shop").get_data(as_text=True)
    assert '<span class="badge" data-testid="product-lifecycle">生产</span>' in html
    assert 'text-white me-2">错误</span>' in html  # the violation's severity
    assert '<span class="badge">草稿</span>' in html  # the version's status
    assert "<td>服务</td>" in html
    assert ">production<" not in html and ">draft<" not in html and ">error<" not in html
    listing = client.get(f"/t/{tenant.slug}/products").get_data(as_text=True)
    assert '<span class="badge">生产</span>' in listing
