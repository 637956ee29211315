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
