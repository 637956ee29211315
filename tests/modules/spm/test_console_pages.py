"""SPM console, the pages added for issue 15: a component's page, API retirement, version
compare, SBOM download, product edit and delete, the at-once warning of the dependency form."""

from __future__ import annotations

import json
import re

from tests.factories import make_member


def _shop(catalog):
    catalog.product("shop")
    catalog.component("shop", "web", layer="access", owner="team-web",
                      repository_url="https://example.com/git/web", consumes=[{"name": "orders"}])
    catalog.component("shop", "orders", layer="business-logic", owner="team-orders",
                      provides=[{"name": "orders"}])
    catalog.component("shop", "store", layer="base")
    catalog.depend("shop", "orders", "store")


def test_component_page_shows_owner_apis_repository_dependencies_and_impact(login, admin, tenant, catalog):
    _shop(catalog)
    client = login(admin)
    page = client.get(f"/t/{tenant.slug}/products/shop/components/orders")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="component-owner">team-orders' in html
    crumbs = html.split('data-testid="breadcrumbs"')[1].split("</ol>")[0]
    assert f'href="/t/{tenant.slug}/products/shop">Shop<' in crumbs
    assert 'aria-current="page">orders<' in crumbs
    assert 'data-testid="component-lifecycle">Experimental' in html
    assert 'data-testid="provided-apis"' in html and "/apis/orders/v1/retirement" in html
    # Depends on store; web depends on it through the API it consumes.
    depends = html.split('data-testid="depends-on"')[1].split("</table>")[0]
    assert 'data-component="shop/store"' in depends and "shop/web" not in depends
    impact = html.split('data-testid="impact"')[1].split("</table>")[0]
    assert 'data-component="shop/web"' in impact and "shop/store" not in impact
    web = client.get(f"/t/{tenant.slug}/products/shop/components/web").get_data(as_text=True)
    assert 'href="https://example.com/git/web"' in web and 'rel="noopener noreferrer nofollow"' in web
    # The product page links each component row and each graph node to the component page.
    product = client.get(f"/t/{tenant.slug}/products/shop").get_data(as_text=True)
    assert f'href="/t/{tenant.slug}/products/shop/components/orders" data-testid="component-link"' in product
    link = f'<a href="/t/{tenant.slug}/products/shop/components/orders" data-testid="graph-node-link">'
    assert link in product
    assert client.get(f"/t/{tenant.slug}/products/shop/components/nope").status_code == 404


def test_a_javascript_repository_url_is_never_a_link(login, admin, tenant, catalog):
    catalog.product("shop")
    response = catalog.api.post(f"{catalog.base}/products/shop/components",
                                json={"name": "evil", "repository_url": "javascript:alert(1)"})
    if response.status_code == 201:  # the service may refuse it already; if not, the page must not link it
        html = login(admin).get(f"/t/{tenant.slug}/products/shop/components/evil").get_data(as_text=True)
        assert 'href="javascript:' not in html


def test_api_retirement_page_lists_the_broken_and_the_affected(login, admin, tenant, catalog):
    _shop(catalog)
    catalog.component("shop", "admin", layer="access")
    catalog.depend("shop", "admin", "web")
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/products/shop/components/orders/apis/orders/v1/retirement") \
        .get_data(as_text=True)
    broken = html.split('data-testid="broken"')[1].split("</ul>")[0]
    assert "shop/web" in broken and "shop/admin" not in broken
    affected = html.split('data-testid="affected"')[1].split("</table>")[0]
    assert "shop/web" in affected and "shop/admin" in affected
    missing = client.get(f"/t/{tenant.slug}/products/shop/components/orders/apis/orders/v9/retirement")
    assert missing.status_code == 404


def test_compare_two_versions_side_by_side_and_download_the_sbom(login, admin, tenant, catalog):
    _shop(catalog)
    base = catalog.base + "/products/shop/versions"
    assert catalog.api.post(base, json={"version": "1.0.0"}).status_code == 201
    assert catalog.api.post(f"{base}/1.0.0/release").status_code == 200
    catalog.component("shop", "search", layer="business-logic")
    catalog.api.patch(f"{catalog.base}/products/shop/components/store", json={"version": "2.0.0"},
                      headers={"If-Match": catalog.api.get(
                          f"{catalog.base}/products/shop/components/store").headers["ETag"]})
    assert catalog.api.post(base, json={"version": "1.1.0"}).status_code == 201
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/products/shop/compare?from=1.0.0&to=1.1.0").get_data(as_text=True)
    components = html.split('data-testid="compare-components"')[1].split("</table>")[0]
    assert 'data-testid="compare-added"><td>search</td>' in components
    assert "store · version" in components and "2.0.0" in components
    assert "[{" not in html and "{'" not in html  # no raw JSON or Python reprs

    sbom = client.get(f"/t/{tenant.slug}/products/shop/versions/1.0.0/sbom")
    assert sbom.status_code == 200
    assert sbom.mimetype == "application/vnd.cyclonedx+json"
    assert sbom.headers["Content-Disposition"] == 'attachment; filename="shop-1.0.0.cdx.json"'
    assert sbom.headers["X-Content-Type-Options"] == "nosniff"
    assert json.loads(sbom.get_data())["bomFormat"] == "CycloneDX"
    # A draft has no bill of materials: back to the product with the reason.
    draft = client.get(f"/t/{tenant.slug}/products/shop/versions/1.1.0/sbom", follow_redirects=True)
    assert "draft" in draft.get_data(as_text=True)


def test_edit_a_product_and_delete_it_after_typing_its_slug(login, admin, tenant, catalog):
    _shop(catalog)
    client = login(admin)
    url = f"/t/{tenant.slug}/products/shop"
    assert 'value="Shop"' in client.get(url + "/edit").get_data(as_text=True)
    saved = client.post(url + "/edit", data={"name": "Shop Two", "lifecycle": "production", "owners": "a, b",
                                             "tags": "x"})
    assert saved.status_code == 302
    product = catalog.api.get(f"{catalog.base}/products/shop").json
    assert product["name"] == "Shop Two" and product["owners"] == ["a", "b"]
    assert product["lifecycle"] == "production"
    wrong = client.post(url + "/delete", data={"confirm": "shops"})
    assert wrong.status_code == 422 and "Type shop to confirm" in wrong.get_data(as_text=True)
    assert catalog.api.get(f"{catalog.base}/products/shop").status_code == 200
    # A released version refuses the deletion; the refusal is shown under the field.
    catalog.api.post(f"{catalog.base}/products/shop/versions", json={"version": "1.0.0"})
    catalog.api.post(f"{catalog.base}/products/shop/versions/1.0.0/release")
    refused = client.post(url + "/delete", data={"confirm": "shop"})
    assert refused.status_code == 422 and "retire them" in refused.get_data(as_text=True)
    catalog.api.post(f"{catalog.base}/products/shop/versions/1.0.0/retire")
    assert client.post(url + "/delete", data={"confirm": "shop"}).status_code == 302
    assert catalog.api.get(f"{catalog.base}/products/shop").status_code == 404


def test_a_viewer_cannot_edit_or_delete_a_product(login, tenant, catalog):
    catalog.product("shop")
    client = login(make_member(tenant, "viewer"))
    assert client.get(f"/t/{tenant.slug}/products/shop/edit").status_code == 403
    assert client.post(f"/t/{tenant.slug}/products/shop/delete", data={"confirm": "shop"}).status_code == 403
    assert catalog.api.get(f"{catalog.base}/products/shop").status_code == 200


def test_dependency_form_warns_at_once_of_a_cycle_and_an_upward_dependency(login, admin, tenant, catalog):
    _shop(catalog)
    client = login(admin)
    check = f"/t/{tenant.slug}/products/shop/dependencies/check"
    # store (base) -> orders (business-logic): upward, and orders already depends on store: a cycle.
    html = client.get(check, query_string={"source": "store", "target": "orders"}).get_data(as_text=True)
    assert 'data-testid="dependency-warning"' in html and "alert-warning" in html
    assert 'data-rule="cycle"' in html and 'data-rule="upward-dependency"' in html
    # Nothing was saved: the warning is only a question to the rules.
    assert catalog.violations("shop") == []
    fine = client.get(check, query_string={"source": "web", "target": "store"}).get_data(as_text=True)
    assert "dependency-warning" not in fine
    unknown = client.get(check, query_string={"source": "web", "target": "nope/nothing"})
    assert unknown.status_code == 200 and "dependency-warning" not in unknown.get_data(as_text=True)
    # A refused form comes back with the warning too.
    refused = client.post(f"/t/{tenant.slug}/products/shop/dependencies",
                          data={"source": "store", "target": "orders", "version_range": "not a range;"})
    assert refused.status_code == 422
    assert 'data-testid="dependency-warning"' in refused.get_data(as_text=True)
    # The product page's form asks it on change.
    page = client.get(f"/t/{tenant.slug}/products/shop").get_data(as_text=True)
    assert f'hx-get="{check}"' in page and 'id="dependency-warning"' in page


def test_cross_product_violation_shows_the_same_on_both_products(login, admin, tenant, catalog):
    catalog.product("shop")
    catalog.product("platform")
    catalog.component("platform", "db-kit", layer="base")
    catalog.component("shop", "web", layer="access")
    catalog.depend("platform", "db-kit", "shop/web")  # base -> access: upward, across products
    client = login(admin)
    for slug in ("platform", "shop"):
        html = client.get(f"/t/{tenant.slug}/products/{slug}").get_data(as_text=True)
        assert 'data-rule="upward-dependency"' in html, slug
        assert 'data-component="platform/db-kit" data-violation="error"' in html, slug
        assert 'data-component="shop/web" data-violation="error"' in html, slug
        assert 'data-violation="true" data-severity="error"' in html, slug
    # And on the page of the component depended upon.
    web = client.get(f"/t/{tenant.slug}/products/shop/components/web").get_data(as_text=True)
    assert 'data-rule="upward-dependency"' in web


def test_component_forms_warn_at_once_of_an_upward_api_dependency(login, admin, tenant, catalog):
    _shop(catalog)
    client = login(admin)
    check = f"/t/{tenant.slug}/products/shop/component-check"
    # A new base component consuming the orders API (business logic): upward.
    html = client.get(check, query_string={"name": "cache", "kind": "service", "layer": "base",
                                           "consumes": "orders:rest:v1"}).get_data(as_text=True)
    assert 'data-testid="dependency-warning"' in html and 'data-rule="upward-dependency"' in html
    assert "shop/cache" in html
    # store (base) starting to consume orders closes the cycle orders -> store -> orders.
    html = client.get(check, query_string={"editing": "store", "kind": "service", "layer": "base",
                                           "consumes": "orders"}).get_data(as_text=True)
    assert 'data-rule="cycle"' in html and 'data-rule="upward-dependency"' in html
    # Moving web (which consumes orders) down to base: its consumption becomes upward.
    html = client.get(check, query_string={"editing": "web", "layer": "base", "consumes": "orders"})
    assert 'data-rule="upward-dependency"' in html.get_data(as_text=True)
    # As it is: no new violation, no warning.
    same = client.get(check, query_string={"editing": "web", "layer": "access", "consumes": "orders"})
    assert "dependency-warning" not in same.get_data(as_text=True)
    assert catalog.violations("shop") == []
    page = client.get(f"/t/{tenant.slug}/products/shop/components/web/edit").get_data(as_text=True)
    assert f'hx-get="{check}?editing=web"' in page and 'id="component-warning"' in page
    # A component called "check" still has its page.
    catalog.component("shop", "check", layer="base")
    assert client.get(f"/t/{tenant.slug}/products/shop/components/check").status_code == 200


def test_violations_and_import_refusals_read_in_chinese(login, admin, tenant, catalog):
    _shop(catalog)
    catalog.depend("shop", "store", "orders")  # upward, and a cycle
    client = login(admin)
    zh = {"Accept-Language": "zh-CN"}
    html = client.get(f"/t/{tenant.slug}/products/shop", headers=zh).get_data(as_text=True)
    assert "是由 2 个组件构成的依赖环" in html and "依赖更高层的 shop/orders" in html
    assert "is a dependency cycle" not in html
    # The API still answers in English by default, from the same cached check.
    assert "is a dependency cycle of 2 components" in str(catalog.violations("shop"))
    dry = client.post(f"/t/{tenant.slug}/catalog/import", headers=zh,
                      data={"step": "check", "text": "kind: Group\nmetadata: {name: team}\n"})
    assert "不导入类型“Group”" in dry.get_data(as_text=True)


def test_a_hosted_repository_url_leads_to_its_console_page(app, login, admin, tenant, catalog):
    base = app.config["BASE_URL"].rstrip("/")
    catalog.product("shop")
    catalog.component("shop", "api", repository_url=f"{base}/git/{tenant.slug}/api-repo.git")
    html = login(admin).get(f"/t/{tenant.slug}/products/shop/components/api").get_data(as_text=True)
    repository = html.split('data-testid="component-repository"')[1].split("</dd>")[0]
    assert f'href="/t/{tenant.slug}/repositories/api-repo"' in repository
    assert 'target="_blank"' not in repository


def test_the_tenant_overview_lists_the_latest_releases(login, admin, tenant, catalog):
    catalog.product("shop")
    catalog.component("shop", "web")
    client = login(admin)
    quiet = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert 'data-panel="spm.releases"' in quiet and "No product version has been released yet." in quiet
    base = f"/t/{tenant.slug}/products/shop"
    for version in ("1.0.0", "1.1.0"):
        assert client.post(f"{base}/versions", data={"version": version}).status_code == 302
    assert client.post(f"{base}/versions/1.0.0/release").status_code == 302  # 1.1.0 stays a draft
    html = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    panel = html.split('data-panel="spm.releases"')[1].split('data-testid="overview-panel"')[0]
    panel = panel.split('data-testid="quota-table"')[0]
    assert "Shop 1.0.0" in panel and f'href="{base}#versions"' in panel and "Released" in panel
    assert "1.1.0" not in panel
    client.post("/locale", data={"locale": "zh_Hans"})
    chinese = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "最近的发布" in chinese and "Recent releases" not in chinese


def test_the_audit_page_tells_the_catalogs_story_in_sentences(login, admin, tenant, catalog):
    _shop(catalog)
    client = login(admin)
    base = f"/t/{tenant.slug}/products/shop"
    assert client.post(f"{base}/versions", data={"version": "1.0.0"}).status_code == 302
    assert client.post(f"{base}/versions/1.0.0/release").status_code == 302
    html = client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    sentences = re.findall(r'data-testid="audit-sentence">([^<]*)<', html)
    assert f"{admin.email} made shop/orders depend on shop/store" in sentences, sentences
    assert f"{admin.email} released the version shop@1.0.0" in sentences
    assert f"{admin.email} added the component shop/web" in sentences
    assert not [s for s in sentences if " did spm." in s]
    row = html[html.index('data-action="spm.component.created"'):]
    assert f'href="{base}/components/' in row[:row.index("</tr>")]
    client.post("/locale", data={"locale": "zh_Hans"})
    chinese = client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    assert f"{admin.email} 发布了版本 shop@1.0.0" in chinese
