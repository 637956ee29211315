"""What SCM hands its clients through the services (the wire endpoints build on these): the
configuration an instance should hold, renders, templates, instances and their releases."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import yaml

from taiji.modules.scm import services as scm
from taiji.modules.scm.services import releases as release_service
from taiji.platform.db import db
from taiji.platform.errors import Conflict, Invalid, NotFound
from tests.factories import database_state


@pytest.fixture
def published(tenant, admin, shop):
    scm.put_item(tenant, admin, shop, "dev", "port", value=8080, type="int")
    scm.put_item(tenant, admin, shop, "dev", "name", value="shop", layer="product")
    scm.put_item(tenant, admin, shop, "dev", "url", value="postgres://db", namespace="db")
    scm.put_item(tenant, admin, shop, "dev", "port", value=5432, type="int", namespace="db")
    scm.put_item(tenant, admin, shop, "dev", "password", value="s3cret", secret=True, namespace="db")
    release = scm.publish(tenant, admin, shop, "dev")
    db.session.commit()
    return release


def test_config_for_merges_namespaces_application_last_with_a_stable_etag(tenant, published):
    config = scm.config_for(tenant, "api", "dev")
    assert config.release == 1 and config.gray is False
    assert config.merged() == {"port": 8080, "name": "shop", "url": "postgres://db", "password": "s3cret"}
    assert config.merged("db") == {"port": 5432, "url": "postgres://db", "password": "s3cret"}
    assert config.layers["application"] == {"product": {"name": "shop"}, "environment": {"port": 8080}}
    assert scm.config_for(tenant, "api", "dev").etag == config.etag
    only_db = scm.config_for(tenant, "api", "dev", namespace="db")
    assert set(only_db.namespaces) == {"db"} and only_db.etag != config.etag
    with pytest.raises(NotFound, match="Nothing published"):
        scm.config_for(tenant, "api", "prod")


def test_renders_are_read_back_by_real_parsers(tenant, published):
    assert json.loads(scm.render(tenant, "api", "dev", "json"))["port"] == 8080
    assert yaml.safe_load(scm.render(tenant, "api", "dev", "yaml", namespace="db"))["url"] == "postgres://db"
    assert "PORT=8080" in scm.render(tenant, "api", "dev", "env").splitlines()
    with pytest.raises(Invalid):
        scm.render(tenant, "api", "dev", "toml")


def test_a_template_lists_every_missing_key(tenant, published):
    assert scm.render_template(tenant, "api", "dev", "${url}:${port}") == "postgres://db:8080"
    with pytest.raises(Invalid) as refused:
        scm.render_template(tenant, "api", "dev", "${nope} ${port} ${also.missing} ${nope}")
    assert "nope, also.missing" in refused.value.detail


def test_instances_are_recorded_throttled_and_shown_with_their_release(tenant, api_as, admin, base,
                                                                        published):
    first = scm.record_instance(tenant, "api", "dev", "pod-1", "zone=bj", 1)
    seen = first.last_seen
    again = scm.record_instance(tenant, "api", "dev", "pod-1", "zone=bj", 1)
    assert again.last_seen == seen  # within 30 s and nothing changed: not written
    scm.record_instance(tenant, "api", "dev", "pod-2", None, 1)
    db.session.commit()
    api = api_as(admin)
    assert {i["instance"]: i["labels"] for i in api.get(f"{base}/api/dev/instances").json} == {
        "pod-1": {"zone": "bj"}, "pod-2": {}}
    assert sorted(i["instance"] for i in api.get(f"{base}/api/dev/releases/1").json["instances"]) == [
        "pod-1", "pod-2"]
    with pytest.raises(Invalid):
        scm.record_instance(tenant, "api", "dev", "x" * 101, None, 1)


def test_a_release_number_taken_meanwhile_is_a_conflict_and_nothing_is_kept(tenant, admin, published,
                                                                          monkeypatch):
    monkeypatch.setattr(release_service, "_next_number", lambda *args: 1)
    before = database_state()
    with pytest.raises(Conflict, match="meanwhile"):
        scm.publish(tenant, admin, "api", "dev")
    assert database_state() == before


def test_a_component_deleted_in_spm_takes_its_configuration_with_it(tenant, admin, shop, published):
    from taiji.modules.scm.events import on_component_changed
    from taiji.modules.spm import services as spm
    from taiji.platform.events import Event, OutboxEvent

    scm.put_item(tenant, admin, "web", "dev", "port", value=1, type="int")
    scm.record_instance(tenant, "api", "dev", "pod-1", None, 1)
    spm.delete_component(tenant, shop)
    row = db.session.execute(sa.select(OutboxEvent).where(OutboxEvent.name == "spm.component.changed")
                             .order_by(OutboxEvent.created_at.desc())).scalars().first()
    assert row.payload["change"] == "deleted"
    on_component_changed(Event(row))
    on_component_changed(Event(row))  # delivered twice: nothing more happens
    assert [c.name for c in scm.list_configured(tenant).items] == ["web"]
    # The product-layer item stays for the product's other components.
    assert scm.draft(tenant, "web", "dev").namespaces["application"]["name"].value == "shop"
    product = spm.get_product(tenant, "shop")
    spm.create_component(tenant, product, {"name": "api"})
    assert scm.list_releases(tenant, "api", "dev").items == []
    assert set(scm.draft(tenant, "api", "dev").namespaces["application"]) == {"name"}
