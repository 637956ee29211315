"""The product page in a real browser: the dependency graph shows the violating components and
edge highlighted, the violation is listed, and focusing on a component keeps its neighbours."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

TENANT = "graph-e2e"


@pytest.fixture(scope="module")
def seed(live_server, admin_email):
    """``seed(product)`` lays out a product with an upward dependency in the e2e tenant."""
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db

    with live_server.app.app_context():
        tm.create_tenant(TENANT, "Graph E2E", owner_id=iam.get_user_by_email(admin_email).id)
        db.session.commit()
        db.session.remove()
    return lambda product: _seed_product_with_an_upward_dependency(live_server, product)


def _seed_product_with_an_upward_dependency(live_server, slug: str) -> None:
    from taiji.modules.spm import services as spm
    from taiji.platform.db import db
    from taiji.platform.tenancy import Tenant

    with live_server.app.app_context():
        tenant = db.session.execute(db.select(Tenant).filter_by(slug=TENANT)).scalar_one()
        product = spm.create_product(tenant, {"slug": slug, "name": slug.title()})
        web = spm.create_component(tenant, product, {"name": "web", "layer": "access"})
        storage = spm.create_component(tenant, product, {"name": "storage", "layer": "base"})
        spm.create_component(tenant, product, {"name": "checkout", "layer": "business-process"})
        spm.add_dependency(tenant, web, {"component": "checkout"})
        # The violation: the base layer depending on a higher one.
        spm.add_dependency(tenant, storage, {"component": "checkout"})
        db.session.commit()
        db.session.remove()


def test_graph_page_highlights_the_violation_and_lists_it(page, live_server, admin_email, seed, shot):
    seed("shop")
    base = live_server.url
    sign_in(page, base, admin_email)
    page.goto(f"{base}/t/{TENANT}/products/shop")

    graph = page.get_by_test_id("dependency-graph")
    expect(graph).to_be_visible()
    expect(graph.get_by_test_id("graph-node")).to_have_count(3)
    # The two components of the upward dependency are outlined as errors, the third is not.
    expect(graph.locator('[data-component="shop/storage"]')).to_have_attribute("data-violation", "error")
    expect(graph.locator('[data-component="shop/checkout"]')).to_have_attribute("data-violation", "error")
    expect(graph.locator('[data-component="shop/web"]')).to_have_attribute("data-violation", "")
    bad_edges = graph.locator('[data-testid="graph-edge"][data-violation="true"]')
    expect(bad_edges).to_have_count(1)
    violations = page.get_by_test_id("violation")
    expect(violations).to_have_count(1)
    expect(violations).to_have_attribute("data-rule", "upward-dependency")
    expect(violations).to_contain_text("Error")  # the severity, as a word
    expect(violations).to_contain_text("storage")
    shot(page, "spm-graph")

    with page.expect_navigation():
        page.get_by_test_id("graph-focus").locator("select").select_option("web")
    expect(page.get_by_test_id("graph-node")).to_have_count(2)
    expect(page.locator('[data-component="shop/storage"]')).to_have_count(0)


def test_edit_a_component_and_remove_a_dependency_after_confirming(
    page, live_server, admin_email, seed, shot
):
    seed("store")
    base = live_server.url
    sign_in(page, base, admin_email)
    page.goto(f"{base}/t/{TENANT}/products/store")
    page.locator('[data-testid=component-row][data-name="storage"]').get_by_test_id("edit-component").click()
    form = page.get_by_test_id("component-edit-form")
    form.locator("input[name=version]").fill("not a version")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(form.locator(".invalid-feedback")).to_contain_text("version")
    form.locator("input[name=version]").fill("2.0.0")
    form.locator("select[name=layer]").select_option("common-service")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Component storage saved.")
    # Still an upward dependency (common-service -> business-process), now from a new layer.
    expect(page.get_by_test_id("violation")).to_contain_text("common-service")

    row = page.locator('[data-testid=dependency-row][data-source="storage"]')
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    row.get_by_test_id("delete-dependency").click()
    expect(row).to_have_count(1)
    assert asked == ["Remove this dependency?"]
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        row.get_by_test_id("delete-dependency").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Dependency removed.")
    expect(page.locator('[data-testid=dependency-row][data-source="storage"]')).to_have_count(0)
    expect(page.get_by_test_id("violation")).to_have_count(0)
    shot(page, "spm-after-edit")


def _catalog(system: str) -> str:
    return f"""\
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {{name: {system}, title: Shop {system}}}
spec: {{owner: team-a}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: cart
  annotations: {{taiji.io/layer: business-logic}}
spec:
  type: service
  system: {system}
  owner: team-a
  dependsOn: [component:stock]
  providesApis: [carts-{system}]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: stock
  annotations: {{taiji.io/layer: base}}
spec: {{type: service, system: {system}, owner: team-b}}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {{name: carts-{system}}}
spec: {{type: openapi, system: {system}}}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {{name: someone}}
"""


@pytest.mark.parametrize("language", ["en", "zh"])
def test_catalog_import_with_a_dry_run_then_a_graph_node_leads_to_its_component(
    browser, live_server, seed, shot, language
):
    base = live_server.url
    email = live_server.account(f"import-{language}@e2e.example", f"Importer {language}", admin=True)
    context = browser.new_context(locale="en-US" if language == "en" else "zh-CN")
    page = context.new_page()
    sign_in(page, base, email)
    system = f"imported-{language}"
    words = {
        "en": {"dry": "Importing this file would create 4 entities", "done": "4 created",
               "warning": "This dependency would break the architecture rules", "kind": "is not imported"},
        "zh": {"dry": "导入此文件将新建 4 个实体", "done": "新建 4 个",
               "warning": "此依赖将违反架构规则", "kind": "不导入类型"},
    }[language]

    page.goto(f"{base}/t/{TENANT}/products")
    with page.expect_navigation():
        page.get_by_test_id("catalog-import-link").click()
    page.get_by_test_id("import-form").locator("textarea[name=text]").fill(_catalog(system))
    with page.expect_navigation():
        page.get_by_test_id("import-check").click()
    dry = page.get_by_test_id("import-dry-run")
    expect(dry).to_be_visible()
    expect(page.get_by_test_id("import-summary")).to_contain_text(words["dry"])
    expect(page.get_by_test_id("import-rejected")).to_contain_text("user:default/someone")
    expect(page.get_by_test_id("import-rejected")).to_contain_text(words["kind"])
    shot(page, f"spm-import-dry-run-{language}")
    # The dry run wrote nothing.
    assert page.request.get(f"{base}/t/{TENANT}/products/{system}").status == 404
    with page.expect_navigation():
        page.get_by_test_id("import-apply").click()
    expect(page.get_by_test_id("import-summary")).to_contain_text(words["done"])
    shot(page, f"spm-import-done-{language}")

    page.goto(f"{base}/t/{TENANT}/products/{system}")
    graph = page.get_by_test_id("dependency-graph")
    expect(graph.get_by_test_id("graph-node")).to_have_count(2)
    # Adding stock -> cart (base depending on business logic, and a cycle) warns at once.
    form = page.get_by_test_id("dependency-form")
    form.locator("select[name=source]").select_option("stock")
    form.locator("input[name=target]").fill("cart")
    warning = page.get_by_test_id("dependency-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(words["warning"])
    expect(warning.locator('[data-rule="cycle"]')).to_have_count(1)
    expect(warning.locator('[data-rule="upward-dependency"]')).to_have_count(1)
    shot(page, f"spm-dependency-warning-{language}")

    with page.expect_navigation():
        graph.locator(f'[data-component="{system}/cart"] a').click()
    expect(page).to_have_url(f"{base}/t/{TENANT}/products/{system}/components/cart")
    expect(page.get_by_test_id("component-owner")).to_have_text("team-a")
    expect(page.get_by_test_id("depends-on")).to_contain_text(f"{system}/stock")
    expect(page.get_by_test_id("provided-apis")).to_contain_text(f"carts-{system}")
    shot(page, f"spm-component-{language}")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, f"spm-component-390-{language}")
    context.close()
