"""``taiji demo`` seeds a product whose components are the example services."""

from __future__ import annotations

from taiji.modules.spm import demo
from taiji.modules.spm import services as spm


def test_demo_seeds_the_example_product_once(app, tenant, login, admin):
    lines: list[str] = []
    made = demo.seed("http://taiji.test", tenant_slug=tenant.slug, echo=lines.append)
    assert f"the component {demo.PRODUCT}/hello-service" in made
    product = spm.get_product(tenant, demo.PRODUCT)
    names = [c.name for c in spm.list_components(tenant, product, page_size=100).items]
    assert names == [p.name for p in demo.example_services()] and "wordcount-service" in names
    hello = spm.get_component(tenant, product, "hello-service")
    assert hello.repository_url == f"http://taiji.test/git/{tenant.slug}/hello-service.git"
    assert hello.layer == "access" and spm.check(tenant, product) == []
    # Again: nothing new, nothing changed.
    assert demo.seed("http://taiji.test", tenant_slug=tenant.slug, echo=lines.append) == []
    assert lines[-1] == "the catalog: reused"
    # Served elsewhere since: the repository URLs follow, nothing else changes.
    moved = demo.seed("http://other.test", tenant_slug=tenant.slug, echo=lines.append)
    assert moved == [f"the repository URL of {demo.PRODUCT}/{p.name}" for p in demo.example_services()]
    assert spm.get_component(tenant, product, "hello-service").repository_url.startswith("http://other.test/")
    html = login(admin).get(f"/t/{tenant.slug}/products/{demo.PRODUCT}").get_data(as_text=True)
    assert 'data-component="example-product/hello-service"' in html


def test_demo_without_its_tenant_seeds_nothing(app):
    lines: list[str] = []
    assert demo.seed("http://taiji.test", tenant_slug="no-such-tenant", echo=lines.append) == []
    assert "skipped" in lines[0]
