"""Items in layers and the resolved draft, through the services."""

from __future__ import annotations

import pytest

from taiji.modules.scm import services as scm
from taiji.modules.spm import services as spm
from taiji.platform.errors import Conflict, Invalid, NotFound


def test_each_layer_overrides_the_one_below_and_the_draft_names_the_source(tenant, admin, shop):
    scm.put_item(tenant, admin, shop, "dev", "a", value="tenant", layer="tenant")
    scm.put_item(tenant, admin, shop, "dev", "a", value="product", layer="product")
    scm.put_item(tenant, admin, shop, "dev", "b", value="product", layer="product")
    scm.put_item(tenant, admin, shop, "dev", "c", value=3, type="int", layer="component")
    scm.put_item(tenant, admin, shop, "dev", "c", value="4", type="int", layer="environment")
    scm.put_item(tenant, admin, shop, "dev", "c", value=5, type="int", layer="label", label="zone=bj")

    resolved = scm.draft(tenant, "api", "dev").namespaces["application"]
    assert {k: (v.value, v.layer) for k, v in resolved.items()} == {
        "a": ("product", "product"), "b": ("product", "product"), "c": (4, "environment")}
    labelled = scm.draft(tenant, "api", "dev", labels="zone=bj").namespaces["application"]
    assert (labelled["c"].value, labelled["c"].layer) == (5, "label")
    # Another environment sees the lower layers only.
    other = scm.draft(tenant, "api", "prod").namespaces["application"]
    assert (other["c"].value, other["c"].layer) == (3, "component")


def test_component_names_resolve_or_refuse(tenant, admin, shop):
    other = spm.create_product(tenant, {"slug": "tools", "name": "Tools"})
    spm.create_component(tenant, other, {"name": "api"})
    with pytest.raises(Conflict, match="shop:api"):
        scm.resolve_component(tenant, "api")
    assert scm.resolve_component(tenant, "tools:api").product.slug == "tools"
    assert scm.resolve_component(tenant, "web").name == "web"
    with pytest.raises(NotFound):
        scm.resolve_component(tenant, "nope")


def test_publish_snapshot_and_client_config(tenant, admin, shop):
    scm.put_item(tenant, admin, shop, "dev", "port", value=8080, type="int")
    scm.put_item(tenant, admin, shop, "dev", "password", value="s3cret", secret=True)
    first = scm.publish(tenant, admin, shop, "dev", comment="first")
    assert (first.number, first.status) == (1, "published")
    scm.put_item(tenant, admin, shop, "dev", "port", value=9090, type="int")
    config = scm.config_for(tenant, "api", "dev")
    assert config.release == 1 and config.namespaces["application"] == {"port": 8080, "password": "s3cret"}
    assert "PORT=8080" in scm.render(tenant, "api", "dev", "env")
    with pytest.raises(Invalid, match="missing"):
        scm.render_template(tenant, "api", "dev", "${port} ${missing}")
    assert scm.render_template(tenant, "api", "dev", "port=${port}") == "port=8080"
