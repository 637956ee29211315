"""TM publishes tm.tenant.created, tm.member.added and tm.member.removed through the outbox,
in the same transaction as the change: a change that fails or rolls back publishes nothing."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from taiji.modules.tm import services
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent
from tests.factories import make_member, make_user, system_principal


def _events(name: str) -> list[OutboxEvent]:
    return list(
        db.session.execute(
            sa.select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.created_at)
        ).scalars()
    )


def test_creating_a_tenant_publishes_tenant_created_and_member_added(api_as, admin):
    assert api_as(admin).post("/api/v1/tenants", json={"slug": "evented", "name": "E"}).status_code == 201
    tenant = services.get_tenant("evented")
    created = [e for e in _events("tm.tenant.created") if e.payload["tenant"] == "evented"]
    assert len(created) == 1
    assert created[0].tenant_id == tenant.id and created[0].payload["owner_id"] == admin.id
    added = [e for e in _events("tm.member.added") if e.tenant_id == tenant.id]
    assert [(e.payload["user_id"], e.payload["role"]) for e in added] == [(admin.id, "owner")]


def test_adding_and_removing_a_member_publish_events(api_as, admin, tenant):
    user = make_user()
    api = api_as(admin)
    assert api.post(f"/api/v1/tenants/{tenant.slug}/members", json={"email": user.email}).status_code == 202
    assert not [e for e in _events("tm.member.added") if e.payload["user_id"] == user.id]  # not yet
    [waiting] = api_as(user).get("/api/v1/me/invitations").json
    assert api_as(user).post(f"/api/v1/me/invitations/{waiting['id']}/accept").status_code == 200
    assert api.delete(f"/api/v1/tenants/{tenant.slug}/members/{user.id}").status_code == 204
    added = [e for e in _events("tm.member.added") if e.payload["user_id"] == user.id]
    removed = [e for e in _events("tm.member.removed") if e.payload["user_id"] == user.id]
    assert len(added) == len(removed) == 1
    assert removed[0].payload == {**removed[0].payload, "tenant": tenant.slug, "email": user.email}


def test_accepting_an_invitation_publishes_member_added(api_as, tenant):
    from tests.factories import make_invitation

    user = make_user()
    _, token = make_invitation(tenant, email=user.email)
    assert api_as(user).post(f"/api/v1/invitations/{token}/accept").status_code == 200
    assert [e.payload["user_id"] for e in _events("tm.member.added") if e.tenant_id == tenant.id][
        -1
    ] == user.id


def test_failed_changes_publish_nothing(api_as, admin, tenant):
    api = api_as(admin)
    counts = {
        name: len(_events(name)) for name in ("tm.tenant.created", "tm.member.added", "tm.member.removed")
    }
    assert api.post("/api/v1/tenants", json={"slug": tenant.slug, "name": "Duplicate"}).status_code == 409
    assert api.delete(f"/api/v1/tenants/{tenant.slug}/members/{admin.id}").status_code == 409  # last owner
    api.put(f"/api/v1/tenants/{tenant.slug}/quotas/members", json={"limit": 1})
    assert (
        api.post(f"/api/v1/tenants/{tenant.slug}/members", json={"email": make_user().email}).status_code
        == 409
    )
    assert {name: len(_events(name)) for name in counts} == counts


def test_tenant_creation_failing_half_way_leaves_nothing_and_its_saga_shows_why(app, admin):
    # The platform's default allows no member at all: the owner step is refused by the quota.
    from taiji.modules.tm import provisioning
    from taiji.platform import quotas
    from taiji.platform.tx import services as tx
    from taiji.platform.tx.models import FAIL, OK, ROLLED_BACK

    owner = make_user()
    meter = next(m for m in quotas.meters() if m.name == services.MEMBERS_METER)
    quotas.register(dataclasses.replace(meter, default_limit=0))
    try:
        with pytest.raises(services.Conflict) as refused:
            services.create_tenant("ghost", "Ghost", owner_id=owner.id)
    finally:
        quotas.register(meter)
    assert "Quota 'members' exceeded" in refused.value.detail
    with pytest.raises(services.NotFound):
        services.get_tenant("ghost")
    assert not [e for e in _events("tm.tenant.created") if e.payload["tenant"] == "ghost"]
    assert not [e for e in _events("tm.member.added") if e.payload["user_id"] == owner.id]
    saga = tx.list_transactions(tenant=None, business_key="tenant:ghost").items[0]
    assert saga.state == ROLLED_BACK
    assert [(c.branch_name, c.op, c.result) for c in tx.timeline(saga)] == [
        ("tenant", "action", OK), ("owner", "action", FAIL), ("owner", "compensate", OK),
        ("tenant", "compensate", OK)]
    assert {b.name: b.state for b in saga.branches} == {"tenant": "compensated", "owner": "compensated",
                                                        "announce": "pending"}
    assert all(c.url.startswith("local:tm.") for c in tx.timeline(saga))
    assert provisioning.TENANT_ROW in saga.branches[0].action_url


def test_a_created_tenant_is_usable_at_once_and_its_saga_succeeded(app, admin):
    from taiji.platform.tx import services as tx
    from taiji.platform.tx.models import SUCCEEDED

    owner = make_user()
    tenant = services.create_tenant("swift", "Swift", owner_id=owner.id)

    assert services.get_member(tenant, owner.id).role == "owner"
    saga = tx.list_transactions(tenant=None, business_key="tenant:swift").items[0]
    assert saga.state == SUCCEEDED and saga.created_by == owner.email
    assert [b.name for b in saga.branches] == ["tenant", "owner", "announce"]
    [created] = [e for e in _events("tm.tenant.created") if e.payload["tenant"] == "swift"]
    assert created.payload["owner_id"] == owner.id


def test_removal_that_fails_midway_publishes_nothing(tenant):
    member = make_member(tenant)
    before = len(_events("tm.member.removed"))
    services.remove_member(tenant, member.id, actor=system_principal())
    db.session.rollback()
    assert len(_events("tm.member.removed")) == before
    assert services.get_member(tenant, member.id).role == "member"
