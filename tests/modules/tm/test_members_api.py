"""The members endpoint: every caller kind, and the happy path."""

from __future__ import annotations

from tests.factories import make_member, make_tenant, make_user


def test_anonymous_caller_gets_401_problem(anon_api, tenant):
    response = anon_api.get(f"/api/v1/tenants/{tenant.slug}/members")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_member_of_another_tenant_gets_404(api_as, tenant):
    other = make_tenant()
    outsider = make_member(other, "owner")
    response = api_as(outsider).get(f"/api/v1/tenants/{tenant.slug}/members")
    assert response.status_code == 404


def test_owner_lists_members_with_roles(api_as, tenant, admin):
    viewer = make_member(tenant, "viewer")
    response = api_as(admin).get(f"/api/v1/tenants/{tenant.slug}/members")
    assert response.status_code == 200
    roles = {m["email"]: m["role"] for m in response.json}
    assert roles == {admin.email: "owner", viewer.email: "viewer"}


def test_viewer_cannot_invite(api_as, tenant):
    viewer = make_member(tenant, "viewer")
    response = api_as(viewer).post(f"/api/v1/tenants/{tenant.slug}/invitations", json={"email": "x@example.com"})
    assert response.status_code == 403


def test_last_owner_cannot_be_removed(api_as, tenant, admin):
    response = api_as(admin).delete(f"/api/v1/tenants/{tenant.slug}/members/{admin.id}")
    assert response.status_code == 409
    assert "last owner" in response.json["detail"]


def test_bad_role_is_422_and_changes_nothing(api_as, tenant, admin):
    member = make_member(tenant, "member")
    response = api_as(admin).patch(f"/api/v1/tenants/{tenant.slug}/members/{member.id}", json={"role": "god"})
    assert response.status_code == 422
    assert "role" in response.json["errors"]["json"]
    again = api_as(admin).get(f"/api/v1/tenants/{tenant.slug}/members/{member.id}")
    assert again.json["role"] == "member"


def test_plain_user_without_tenants_sees_none(api_as):
    user = make_user()
    response = api_as(user).get("/api/v1/tenants")
    assert response.status_code == 200
    assert response.json == []
