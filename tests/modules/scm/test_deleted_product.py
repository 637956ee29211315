"""A product deleted in SPM takes its configuration with it: the product layer's items and history,
and each of its components' items, history, releases and instances. A new product given the same
name, with a component of the same name, starts with nothing of the old one."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.modules.scm import services as scm
from taiji.modules.scm.models import ConfigComponent, HistoryEntry, Instance, Item, Release
from taiji.platform import events
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent


def _deliver_all() -> list[str]:
    """Run every subscribed handler on every event not yet dispatched, in order, as the relay's
    delivery tasks would; returns the names of the events delivered."""
    rows = db.session.execute(sa.select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
                              .order_by(OutboxEvent.created_at)).scalars().all()
    for row in rows:
        for handler in events.handlers_for(row.name):
            events.deliver(str(row.id), handler)
        row.dispatched_at = row.created_at
    db.session.flush()
    return [row.name for row in rows]


def _scm_rows(tenant) -> dict:
    return {model.__tablename__: db.session.execute(
        sa.select(sa.func.count()).select_from(model).where(model.tenant_id == tenant.id)).scalar_one()
        for model in (Item, HistoryEntry, Release, Instance, ConfigComponent)}


def test_deleting_a_product_deletes_its_configuration_and_its_name_starts_afresh(api_as, admin, tenant, shop):
    api = api_as(admin)
    config = f"/api/v1/tenants/{tenant.slug}/config"
    for key, body in (("region", {"value": "cn-north", "layer": "product"}),
                      ("threads", {"value": 4, "type": "int", "layer": "component"}),
                      ("port", {"value": 8080, "type": "int"}),
                      ("db.password", {"value": "old-pass", "secret": True})):
        assert api.put(f"{config}/api/dev/items/{key}", json=body).status_code == 200
    assert api.put(f"{config}/web/dev/items/port", json={"value": 9090, "type": "int"}).status_code == 200
    assert api.post(f"{config}/api/dev/releases", json={"comment": "first"}).status_code == 201
    scm.record_instance(tenant, "api", "dev", "pod-1", "zone=bj", 1)
    # Another product's configuration, and the tenant layer, are not the deleted product's.
    from taiji.modules.spm import services as spm

    other = spm.create_product(tenant, {"slug": "shelf", "name": "Shelf"})
    spm.create_component(tenant, other, {"name": "stock"})
    scm.put_item(tenant, admin, "stock", "dev", "port", value=7070, type="int")
    scm.put_item(tenant, admin, "stock", "dev", "zone", value="bj", layer="tenant")
    db.session.commit()
    _deliver_all()
    kept = _scm_rows(tenant)

    product = f"/api/v1/tenants/{tenant.slug}/products/shop"
    deleted = api.delete(product, headers={"If-Match": api.get(product).headers["ETag"]})
    assert deleted.status_code == 204, deleted.text
    delivered = _deliver_all()
    assert delivered.count("spm.component.changed") == 2  # api and web
    assert delivered[-1] == "spm.product.deleted"
    assert _deliver_all() == []

    # Only the other product's rows and the tenant layer's item remain.
    left = _scm_rows(tenant)
    assert left == {"scm_item": 2, "scm_history": 2, "scm_release": 0, "scm_instance": 0, "scm_component": 1}
    assert kept["scm_item"] == 7 and kept["scm_release"] == 1
    assert [c.name for c in scm.list_configured(tenant).items] == ["stock"]

    # The same names again: nothing of the old configuration, releases or history shows.
    assert api.post(f"/api/v1/tenants/{tenant.slug}/products", json={"slug": "shop", "name": "Shop"}
                    ).status_code == 201
    assert api.post(f"{product}/components", json={"name": "api"}).status_code == 201
    draft = api.get(f"{config}/api/dev/draft")
    assert draft.status_code == 200, draft.text
    assert {(i["namespace"], i["key"]) for i in draft.json["items"]} == {("application", "zone")}
    assert api.get(f"{config}/api/dev/releases").json == []
    assert [e["key"] for e in api.get(f"{config}/api/dev/history").json] == ["zone"]


def test_a_product_deleted_again_or_whose_component_events_were_lost_is_forgotten_all_the_same(
        tenant, admin, shop):
    from taiji.modules.scm.events import on_product_deleted
    from taiji.modules.spm import services as spm
    from taiji.platform.events import Event

    scm.put_item(tenant, admin, shop, "dev", "name", value="shop", layer="product")
    scm.put_item(tenant, admin, shop, "dev", "port", value=1, type="int")
    scm.publish(tenant, admin, shop, "dev")
    spm.delete_product(tenant, spm.get_product(tenant, "shop"))
    row = db.session.execute(sa.select(OutboxEvent).where(OutboxEvent.name == "spm.product.deleted")
                             ).scalar_one()
    assert row.payload == {"tenant": tenant.slug, "tenant_id": tenant.id, "product": "shop",
                           "product_id": shop.product_id}
    on_product_deleted(Event(row))  # the components' own events never delivered
    on_product_deleted(Event(row))  # delivered twice: nothing more happens
    assert _scm_rows(tenant) == {"scm_item": 0, "scm_history": 0, "scm_release": 0, "scm_instance": 0,
                                 "scm_component": 0}
