"""Quotas: usage against limits, limits set by administrators, and 409 when a limit is reached."""

from __future__ import annotations

import pytest

from taiji.modules.tm import services
from tests.factories import database_state, make_member, make_user


def _ready(api):
    api.get("/api/v1/me")  # a token's first use records itself; not the change under test
    return api


def _members_quota(api, tenant):
    rows = api.get(f"/api/v1/tenants/{tenant.slug}/quotas").json
    return next(row for row in rows if row["name"] == "members")


def test_members_see_usage_against_limits(api_as, tenant):
    viewer = make_member(tenant, "viewer")
    row = _members_quota(api_as(viewer), tenant)
    assert row["used"] == 2
    assert row["limit"] == 500 and row["unit"] == "count" and row["label"]


def test_administrator_sets_and_removes_a_limit(api_as, admin, tenant):
    api = api_as(admin)
    response = api.put(f"/api/v1/tenants/{tenant.slug}/quotas/members", json={"limit": 7})
    assert response.status_code == 200
    assert response.json == {**response.json, "name": "members", "used": 1, "limit": 7}
    assert _members_quota(api, tenant)["limit"] == 7
    assert (
        api.put(f"/api/v1/tenants/{tenant.slug}/quotas/members", json={"limit": None}).json["limit"] is None
    )


def test_tenant_owner_cannot_raise_own_limit(api_as, tenant):
    owner = make_member(tenant, "owner")
    response = api_as(owner).put(f"/api/v1/tenants/{tenant.slug}/quotas/members", json={"limit": 10_000})
    assert response.status_code == 403
    assert _members_quota(api_as(owner), tenant)["limit"] == 500


@pytest.mark.parametrize(
    "name, body, status",
    [
        ("members", {"limit": -1}, 422),
        ("members", {"limit": "many"}, 422),
        ("members", {}, 422),
        ("members", {"limit": 2**64}, 422),
        ("no-such-quota", {"limit": 5}, 404),
    ],
)
def test_bad_limit_changes_nothing(api_as, admin, tenant, name, body, status):
    api = _ready(api_as(admin))
    before = database_state()
    response = api.put(f"/api/v1/tenants/{tenant.slug}/quotas/{name}", json=body)
    assert response.status_code == status
    assert database_state() == before


@pytest.fixture
def full_tenant(api_as, admin, tenant):
    make_member(tenant)
    api_as(admin).put(f"/api/v1/tenants/{tenant.slug}/quotas/members", json={"limit": 2})
    return tenant


def test_invite_at_the_limit_is_409_with_what_to_do(api_as, admin, full_tenant):
    api = _ready(api_as(admin))
    before = database_state()
    response = api.post(
        f"/api/v1/tenants/{full_tenant.slug}/invitations", json={"email": "one-more@example.com"}
    )
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.json["title"] == "Quota exceeded"
    assert "2 used of 2" in response.json["detail"]
    assert "raise the limit" in response.json["detail"]
    assert database_state() == before


def test_adding_a_member_at_the_limit_is_409(api_as, admin, full_tenant):
    user = make_user()
    response = api_as(admin).post(f"/api/v1/tenants/{full_tenant.slug}/members", json={"email": user.email})
    assert response.status_code == 409
    assert "members" in response.json["detail"]
    assert services.count_members(full_tenant) == 2


def test_raising_the_limit_lets_the_next_member_in(api_as, admin, full_tenant):
    user = make_user()
    api = api_as(admin)
    api.put(f"/api/v1/tenants/{full_tenant.slug}/quotas/members", json={"limit": 3})
    assert (
        api.post(f"/api/v1/tenants/{full_tenant.slug}/members", json={"email": user.email}).status_code == 201
    )
