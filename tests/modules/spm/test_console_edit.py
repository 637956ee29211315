"""SPM console, editing: components, dependencies and the tenant's architecture rules."""

from __future__ import annotations

from tests.factories import make_member


def test_edit_a_component_moves_it_to_another_layer(login, admin, tenant, catalog):
    catalog.product("shop")
    catalog.component("shop", "orders", layer="business-logic", provides=[{"name": "orders"}])
    client = login(admin)
    url = f"/t/{tenant.slug}/products/shop/components/orders/edit"
    form = client.get(url).get_data(as_text=True)
    assert 'data-testid="component-edit-form"' in form and "orders:rest:v1" in form
    response = client.post(url, data={"kind": "service", "layer": "common-service", "version": "1.2.0",
                                      "owner": "team-b", "provides": "orders:rest:v2"})
    assert response.status_code == 302
    component = catalog.api.get(f"{catalog.base}/products/shop/components/orders").json
    assert component["layer"] == "common-service" and component["version"] == "1.2.0"
    assert [(a["name"], a["version"]) for a in component["provides"]] == [("orders", "v2")]


def test_bad_component_edit_shows_the_error_inline_and_changes_nothing(login, admin, tenant, catalog):
    catalog.product("shop")
    catalog.component("shop", "orders", layer="base")
    client = login(admin)
    url = f"/t/{tenant.slug}/products/shop/components/orders/edit"
    response = client.post(url, data={"kind": "service", "layer": "base", "version": "not-semver"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "invalid-feedback" in html and "semantic version" in html.lower()
    assert catalog.api.get(f"{catalog.base}/products/shop/components/orders").json["version"] == "0.1.0"


def test_delete_a_component_refused_while_depended_on(login, admin, tenant, catalog):
    catalog.product("shop")
    catalog.component("shop", "web", layer="access")
    catalog.component("shop", "store", layer="base")
    catalog.depend("shop", "web", "store")
    client = login(admin)
    refused = client.post(f"/t/{tenant.slug}/products/shop/components/store/delete", follow_redirects=True)
    assert "depend on" in refused.get_data(as_text=True)
    assert catalog.api.get(f"{catalog.base}/products/shop/components/store").status_code == 200
    page = client.get(f"/t/{tenant.slug}/products/shop").get_data(as_text=True)
    # The question must survive as one attribute value for the browser to ask it.
    assert 'data-testid="delete-component"' in page
    assert 'data-confirm="Delete store and its dependencies?"' in page
    assert client.post(f"/t/{tenant.slug}/products/shop/components/web/delete").status_code == 302
    assert catalog.api.get(f"{catalog.base}/products/shop/components/web").status_code == 404
    assert client.post(f"/t/{tenant.slug}/products/shop/components/store/delete").status_code == 302
    assert catalog.api.get(f"{catalog.base}/products/shop/components/store").status_code == 404


def test_edit_and_remove_a_dependency(login, admin, tenant, catalog):
    catalog.product("shop")
    catalog.component("shop", "web", layer="access")
    dep = catalog.third_party("shop", "web", "left-pad", version_range="^1", license="MIT")
    client = login(admin)
    base = f"/t/{tenant.slug}/products/shop/components/web/dependencies/{dep['id']}"
    bad = client.post(f"{base}/edit", data={"version_range": "1.2; drop", "license": "MIT"})
    assert bad.status_code == 422 and "version range" in bad.get_data(as_text=True)
    ok = client.post(f"{base}/edit", data={"version_range": ">=1.2,<2", "license": "Apache-2.0",
                                           "purl": "pkg:npm/left-pad@1.3.0"})
    assert ok.status_code == 302
    listed = catalog.api.get(f"{catalog.base}/products/shop/components/web/dependencies").json
    assert [(d["version_range"], d["license"]) for d in listed] == [(">=1.2,<2", "Apache-2.0")]
    assert client.post(f"{base}/delete").status_code == 302
    assert catalog.api.get(f"{catalog.base}/products/shop/components/web/dependencies").json == []
    assert client.post(f"{base}/delete").status_code == 404


def test_change_layers_and_severities_in_the_console(login, admin, tenant, catalog):
    catalog.product("shop")
    catalog.component("shop", "a", layer="business-logic")
    catalog.component("shop", "b", layer="business-logic")
    catalog.depend("shop", "a", "b")
    assert [v["severity"] for v in catalog.violations("shop")] == ["warning"]
    client = login(admin)
    url = f"/t/{tenant.slug}/catalog/rules"
    page = client.get(url).get_data(as_text=True)
    assert "access, business-process, business-logic, common-service, base" in page
    response = client.post(url, data={"layers": "edge, business-logic, base", "same_layer": "error",
                                      "upward_dependency": "error", "shared_database": "warning"})
    assert response.status_code == 302
    assert [v["severity"] for v in catalog.violations("shop")] == ["error"]
    rules = catalog.api.get(f"{catalog.base}/catalog/rules").json
    assert rules["layers"] == ["edge", "business-logic", "base"]


def test_removing_a_layer_in_use_shows_why_inline(login, admin, tenant, catalog):
    catalog.product("shop")
    catalog.component("shop", "a", layer="business-logic")
    response = login(admin).post(f"/t/{tenant.slug}/catalog/rules", data={
        "layers": "access, base", "same_layer": "warning", "upward_dependency": "error",
        "shared_database": "warning"})
    assert response.status_code == 422
    assert "still in use" in response.get_data(as_text=True)
    assert "business-logic" in catalog.api.get(f"{catalog.base}/catalog/rules").json["layers"]


def test_member_sees_the_rules_but_cannot_change_them(login, tenant, catalog):
    member = make_member(tenant, "member")
    client = login(member)
    page = client.get(f"/t/{tenant.slug}/catalog/rules")
    assert page.status_code == 200 and "<fieldset disabled" in page.get_data(as_text=True)
    refused = client.post(f"/t/{tenant.slug}/catalog/rules", data={"layers": "x", "same_layer": "error",
                                                                   "upward_dependency": "error",
                                                                   "shared_database": "error"})
    assert refused.status_code == 403
    assert catalog.api.get(f"{catalog.base}/catalog/rules").json["severities"]["same-layer"] == "warning"
