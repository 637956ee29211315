"""GET /config/<tenant>/<component>/<environment>: what a client instance reads, with its access
key or a token; ETags; refusals; bad input; instances' reports; the in-memory answers."""

from __future__ import annotations

import pytest

from taiji.platform.db import db
from tests.factories import database_state, make_member, make_tenant, make_token, make_user
from tests.modules.scm.client_fixtures import basic, make_setup


@pytest.fixture
def setup(app):
    return make_setup()


@pytest.fixture
def owner_token(setup):
    return make_token(setup.owner)



def _url(setup, env="dev", component="orders", query=""):
    return f"/config/{setup.tenant.slug}/{component}/{env}{query}"


@pytest.mark.parametrize("how", ["basic", "x-config-token", "bearer"])
def test_an_access_key_reads_its_environments_values_merged_by_precedence(client, setup, how):
    key = setup.keys["dev"]
    headers = {"basic": basic(key), "x-config-token": {"X-Config-Token": key},
               "bearer": {"Authorization": f"Bearer {key}"}}[how]
    response = client.get(_url(setup), headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["tenant"] == setup.tenant.slug and body["component"] == "orders"
    assert body["environment"] == "dev" and body["release"] == 1 and body["gray"] is False
    app = body["namespaces"]["application"]
    # environment beats component; every layer below contributes; secrets arrive decrypted; typed values
    assert app["pool.size"] == 8 and app["region"] == "global" and app["team"] == "shop-team"
    assert app["db.password"] == "s3cret-dev" and app["features"] == {"a": 1}
    assert body["namespaces"]["db"]["url"] == "jdbc:postgresql://db/orders"
    # merged: the application namespace wins over the others
    assert body["values"]["greeting"] == "hello dev" and body["values"]["url"].startswith("jdbc:")
    assert response.headers["ETag"].startswith('"')


def test_one_namespace_and_an_unknown_one(client, setup):
    headers = basic(setup.keys["dev"])
    body = client.get(_url(setup, query="?namespace=db"), headers=headers).get_json()
    assert body["namespace"] == "db" and body["values"]["greeting"] == "from db namespace"
    assert list(body["namespaces"]) == ["db"]
    missing = client.get(_url(setup, query="?namespace=cache"), headers=headers)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert "cache" in missing.get_json()["detail"]


def test_the_etag_answers_304_until_a_new_release(client, setup):
    from taiji.modules.scm import services as scm

    headers = basic(setup.keys["dev"])
    first = client.get(_url(setup), headers=headers)
    etag = first.headers["ETag"]
    again = client.get(_url(setup), headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    scm.put_item(setup.tenant, setup.owner, setup.component, "dev", "greeting", value="hello again")
    db.session.commit()
    draft_only = client.get(_url(setup), headers={**headers, "If-None-Match": etag})
    assert draft_only.status_code == 304  # a draft is not what clients read
    scm.publish(setup.tenant, setup.owner, setup.component, "dev", comment="second")
    db.session.commit()
    changed = client.get(_url(setup), headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["release"] == 2 and changed.get_json()["values"]["greeting"] == "hello again"


def test_a_personal_token_with_read_permission_reads_every_environment(client, setup, owner_token):
    for env, greeting in (("dev", "hello dev"), ("prod", "hello prod")):
        response = client.get(_url(setup, env), headers=basic(owner_token, "token"))
        assert response.status_code == 200 and response.get_json()["values"]["greeting"] == greeting
    viewer = make_member(setup.tenant, "viewer")
    token = make_token(viewer)
    assert client.get(_url(setup), headers={"Authorization": f"Bearer {token}"}).status_code == 200
    scoped = make_token(setup.owner, scopes=["spm:product:read"])
    refused = client.get(_url(setup), headers={"Authorization": f"Bearer {scoped}"})
    assert refused.status_code == 403 and "scm:config:read" in refused.get_json()["detail"]


def test_keys_of_another_environment_or_tenant_see_nothing(client, setup):
    other = make_setup()
    stranger = make_token(make_user())
    client.get("/api/v1/me", headers={"Authorization": f"Bearer {stranger}"})  # its first use is recorded
    before = database_state()
    for headers in (basic(setup.keys["prod"]), basic(setup.keys["qa"]), basic(other.keys["dev"]),
                    {"X-Config-Token": other.keys["dev"]}):
        response = client.get(_url(setup), headers=headers)
        assert response.status_code == 404, response.get_data(as_text=True)
        assert b"hello" not in response.data and b"s3cret" not in response.data
    assert client.get(_url(setup), headers={"Authorization": f"Bearer {stranger}"}).status_code == 404
    assert database_state() == before


def test_no_or_bad_credentials_are_challenged(client, setup):
    for headers in ({}, basic("tjc_1_notavalidsecretnotavalidsecret"), {"X-Config-Token": "nope"},
                    {"Authorization": "Bearer tjc_999_" + "x" * 40}, {"Authorization": "Basic !!!"}):
        response = client.get(_url(setup), headers=headers)
        assert response.status_code == 401, (headers, response.status_code)
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Taiji config"'
        assert response.mimetype == "application/problem+json"
    # the same for a tenant that does not exist: nothing is told before credentials
    assert client.get("/config/no-such-tenant/orders/dev").status_code == 401


def test_a_revoked_key_is_refused_at_once(client, setup):
    from taiji.modules.scm import services as scm

    headers = basic(setup.keys["dev"])
    assert client.get(_url(setup), headers=headers).status_code == 200  # kept in memory now
    key = next(k for k in scm.list_access_keys(setup.tenant) if k.environment == "dev")
    scm.revoke_access_key(setup.tenant, setup.owner, key)
    db.session.commit()
    assert client.get(_url(setup), headers=headers).status_code == 401


def test_a_suspended_tenant_is_refused(client, setup):
    from taiji.platform.tenancy import TenantStatus

    setup.tenant.status = TenantStatus.SUSPENDED
    db.session.commit()
    response = client.get(_url(setup), headers=basic(setup.keys["dev"]))
    assert response.status_code == 403


def test_bad_input_is_a_clear_4xx_and_changes_nothing(client, setup):
    headers = basic(setup.keys["dev"])
    owner = basic(make_token(setup.owner))
    client.get("/api/v1/me", headers=owner)  # its first use is recorded
    before = database_state()
    cases = {
        _url(setup, component="no-such"): (404, "no-such"),
        _url(setup, component="shop:no-such"): (404, "no-such"),
        _url(setup, query="?labels=zone"): (400, "labels"),
        _url(setup, query="?labels=a=b,,=c"): (400, "labels"),
        _url(setup, query="?instance=" + "x" * 101): (400, "instance"),
        _url(setup, query="?instance=bad%20id"): (400, "instance"),
        _url(setup, query="?instance=%00"): (400, "instance"),
        _url(setup, query="?namespace=Bad_NS"): (400, "namespace"),
    }
    for url, (status, word) in cases.items():
        response = client.get(url, headers=headers)
        assert response.status_code == status, (url, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"
        assert word in response.get_data(as_text=True)
    assert client.get(f"/config/{setup.tenant.slug}/orders/Not_An_Env", headers=owner).status_code == 400
    assert database_state() == before


def test_an_ambiguous_component_name_asks_for_the_product(client, setup):
    from taiji.modules.scm import services as scm
    from taiji.modules.spm import services as spm

    billing = spm.create_product(setup.tenant, {"slug": "billing", "name": "Billing"})
    twin = spm.create_component(setup.tenant, billing, {"name": "orders", "layer": "base"})
    scm.put_item(setup.tenant, setup.owner, twin, "dev", "greeting", value="billing orders")
    scm.publish(setup.tenant, setup.owner, twin, "dev")
    db.session.commit()
    headers = basic(setup.keys["dev"])
    ambiguous = client.get(_url(setup), headers=headers)
    assert ambiguous.status_code == 409 and "billing:orders" in ambiguous.get_json()["detail"]
    named = client.get(_url(setup, component="billing:orders"), headers=headers)
    assert named.get_json()["values"]["greeting"] == "billing orders"


def test_nothing_published_is_404(client, setup):
    from taiji.modules.spm import services as spm

    shop = spm.get_product(setup.tenant, "shop")
    spm.create_component(setup.tenant, shop, {"name": "empty", "layer": "base"})
    db.session.commit()
    response = client.get(_url(setup, component="empty"), headers=basic(setup.keys["dev"]))
    assert response.status_code == 404 and "Nothing published" in response.get_json()["detail"]


def test_instances_report_what_they_hold_throttled(client, setup):
    from taiji.modules.scm import services as scm

    headers = basic(setup.keys["dev"])
    url = _url(setup, query="?instance=pod-1&labels=zone=bj,tier=gold")
    assert client.get(url, headers=headers).status_code == 200
    [seen] = scm.list_instances(setup.tenant, setup.component, "dev")
    assert (seen.instance, seen.release_number, seen.labels) == ("pod-1", 1, {"zone": "bj", "tier": "gold"})
    first_seen = seen.last_seen
    assert client.get(url, headers=headers).status_code == 200
    db.session.expire_all()
    [again] = scm.list_instances(setup.tenant, setup.component, "dev")
    assert again.last_seen == first_seen  # not written again within 30 s
    scm.publish(setup.tenant, setup.owner, setup.component, "dev", comment="second")
    db.session.commit()
    assert client.get(url, headers=headers).get_json()["release"] == 2
    db.session.expire_all()
    [moved] = scm.list_instances(setup.tenant, setup.component, "dev")
    assert moved.release_number == 2  # a new release is reported at once


def test_gray_by_label_and_by_percentage_goes_to_the_chosen_instances(client, setup):
    from taiji.modules.scm import services as scm

    headers = basic(setup.keys["dev"])
    scm.put_item(setup.tenant, setup.owner, setup.component, "dev", "greeting", value="gray hello")
    scm.publish(setup.tenant, setup.owner, setup.component, "dev", gray={"selector": "zone=bj"})
    db.session.commit()
    chosen = client.get(_url(setup, query="?instance=a&labels=zone=bj"), headers=headers).get_json()
    other = client.get(_url(setup, query="?instance=b&labels=zone=sh"), headers=headers).get_json()
    anonymous = client.get(_url(setup, query="?labels=zone=bj"), headers=headers).get_json()
    assert (chosen["release"], chosen["gray"], chosen["values"]["greeting"]) == (2, True, "gray hello")
    assert (other["release"], other["gray"], other["values"]["greeting"]) == (1, False, "hello dev")
    assert anonymous["release"] == 1  # no instance id: never gray


def test_label_layer_items_apply_to_matching_instances(client, setup):
    from taiji.modules.scm import services as scm

    scm.put_item(setup.tenant, setup.owner, setup.component, "dev", "pool.size", value=32, type="int",
                 layer="label", label="tier=gold")
    scm.publish(setup.tenant, setup.owner, setup.component, "dev")
    db.session.commit()
    headers = basic(setup.keys["dev"])
    gold = client.get(_url(setup, query="?instance=g&labels=tier=gold"), headers=headers).get_json()
    plain = client.get(_url(setup, query="?instance=p&labels=tier=iron"), headers=headers).get_json()
    assert gold["values"]["pool.size"] == 32 and plain["values"]["pool.size"] == 8


def test_a_repeated_read_sends_no_query(app, client, setup):
    import sqlalchemy as sa

    headers = basic(setup.keys["dev"])
    assert client.get(_url(setup), headers=headers).status_code == 200
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(_url(setup), headers=headers)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    control = ("SAVEPOINT", "RELEASE", "ROLLBACK")
    assert [s for s in statements if not s.lstrip().upper().startswith(control)] == []


def test_the_answer_of_another_tenant_is_never_served_from_memory(client, setup):
    twin = make_setup()
    mine = client.get(_url(setup), headers=basic(setup.keys["dev"])).get_json()
    theirs = client.get(_url(twin), headers=basic(twin.keys["dev"])).get_json()
    assert mine["tenant"] == setup.tenant.slug and theirs["tenant"] == twin.tenant.slug
    assert client.get(_url(twin), headers=basic(setup.keys["dev"])).status_code == 404


def test_unknown_tenant_with_a_valid_key_is_404(client, setup):
    response = client.get("/config/no-such-tenant/orders/dev", headers=basic(setup.keys["dev"]))
    assert response.status_code == 404
    assert make_tenant  # imported for the fixtures' factories


def test_refusals_read_in_the_requests_language(client, setup):
    anonymous = client.get(_url(setup), headers={"Accept-Language": "zh-CN"})
    assert anonymous.status_code == 401 and "访问密钥" in anonymous.get_json()["detail"]
    bad = client.get(_url(setup, query="?instance=bad%20id"),
                     headers={**basic(setup.keys["dev"]), "Accept-Language": "zh-CN"})
    assert bad.status_code == 400 and "实例 ID" in bad.get_json()["detail"]


def test_promote_abandon_and_rollback_reach_clients_at_once(client, setup):
    from taiji.modules.scm import services as scm

    headers = basic(setup.keys["dev"])
    chosen = _url(setup, query="?instance=a&labels=zone=bj")
    other = _url(setup, query="?instance=b&labels=zone=sh")
    scm.put_item(setup.tenant, setup.owner, setup.component, "dev", "greeting", value="gray hello")
    gray = scm.publish(setup.tenant, setup.owner, setup.component, "dev", gray={"selector": "zone=bj"})
    db.session.commit()
    assert client.get(chosen, headers=headers).get_json()["release"] == 2  # kept in memory from here
    scm.abandon(setup.tenant, setup.owner, gray)
    db.session.commit()
    assert client.get(chosen, headers=headers).get_json()["release"] == 1
    again = scm.publish(setup.tenant, setup.owner, setup.component, "dev", gray={"percentage": 100})
    db.session.commit()
    assert client.get(other, headers=headers).get_json()["release"] == 3
    assert client.get(_url(setup), headers=headers).get_json()["release"] == 1  # no instance: never gray
    scm.promote(setup.tenant, setup.owner, again)
    db.session.commit()
    body = client.get(_url(setup), headers=headers).get_json()
    assert (body["release"], body["gray"], body["values"]["greeting"]) == (3, False, "gray hello")
    first = scm.get_release(setup.tenant, setup.component, "dev", 1)
    scm.rollback(setup.tenant, setup.owner, first)
    db.session.commit()
    body = client.get(_url(setup), headers=headers).get_json()
    assert (body["release"], body["values"]["greeting"]) == (4, "hello dev")


def test_a_keys_last_use_is_recorded_at_most_once_a_minute_and_shown_to_its_owner(client, setup, monkeypatch,
                                                                                    api_as, login):
    from taiji.modules.scm.models import AccessKey
    from taiji.modules.scm.services import keys as key_service

    key = setup.keys["dev"]
    key_id = int(key.split("_")[1])
    keys_url = f"/api/v1/tenants/{setup.tenant.slug}/config-keys"
    owner = api_as(setup.owner)
    assert {k["id"]: k["last_used_at"] for k in owner.get(keys_url).get_json()}[key_id] is None
    assert client.get(_url(setup), headers=basic(key)).status_code == 200
    db.session.expire_all()
    first = db.session.get(AccessKey, key_id).last_used_at
    assert first is not None
    # A second read within the minute writes nothing; the stored time does not move.
    assert client.get(_url(setup), headers=basic(key)).status_code == 200
    db.session.expire_all()
    assert db.session.get(AccessKey, key_id).last_used_at == first
    # A minute later (this process's memory of the last write is what counts) it is written again.
    monkeypatch.setattr(key_service, "_recorded", {})
    assert client.get(_url(setup, query="?namespace=db"), headers=basic(key)).status_code == 200
    db.session.expire_all()
    assert db.session.get(AccessKey, key_id).last_used_at > first
    # Another key of the tenant, never used, still reads Never; its owner sees the use in the API.
    listed = {k["id"]: k["last_used_at"] for k in owner.get(keys_url).get_json()}
    assert listed[key_id] is not None
    assert [v for k, v in listed.items() if k != key_id] == [None] * (len(listed) - 1)
    page = login(setup.owner).get(f"/t/{setup.tenant.slug}/config/-/keys").get_data(as_text=True)
    used = page.split(f'data-key-id="{key_id}"')[1].split("</tr>")[0]
    assert 'data-testid="key-last-used">' in used and "Never" not in used
