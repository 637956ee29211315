"""Custom tenant roles through the API: define, bind, and what a bound member may then do."""

from __future__ import annotations

import pytest

from taiji.platform import audit
from taiji.platform.auth import catalog
from tests.factories import make_member, make_tenant, make_user
from tests.platform.test_permissions import REQUESTS, send


def _roles(tenant):
    return f"/api/v1/tenants/{tenant.slug}/roles"


def test_owner_defines_a_role_and_a_member_bound_to_it_gains_its_permissions(api_as, tenant, admin):
    owner = make_member(tenant, "owner")
    viewer = make_member(tenant, "viewer")
    owner_api, viewer_api = api_as(owner), api_as(viewer)
    # A viewer cannot invite people...
    invite = {"email": "someone@example.com"}
    assert viewer_api.post(f"/api/v1/tenants/{tenant.slug}/invitations", json=invite).status_code == 403

    made = owner_api.post(
        _roles(tenant),
        json={"key": "recruiter", "name": "Recruiter", "permissions": ["tm:member:write", "tm:member:read"]},
    )
    assert made.status_code == 201, made.json
    assert made.json["builtin"] is False and made.json["permissions"] == ["tm:member:read", "tm:member:write"]
    bound = owner_api.post(f"{_roles(tenant)}/recruiter/bindings", json={"user_email": viewer.email})
    assert bound.status_code == 201, bound.json

    # ...until they hold the custom role.
    assert viewer_api.post(f"/api/v1/tenants/{tenant.slug}/invitations", json=invite).status_code == 201
    assert audit.query(tenant=tenant, action="iam.role.bound").items

    assert owner_api.delete(f"{_roles(tenant)}/recruiter/bindings/{bound.json['id']}").status_code == 204
    again = {"email": "another@example.com"}
    assert viewer_api.post(f"/api/v1/tenants/{tenant.slug}/invitations", json=again).status_code == 403


def test_roles_list_builtins_first_and_they_cannot_be_changed(api_as, tenant):
    owner = make_member(tenant, "owner")
    api = api_as(owner)
    listing = api.get(_roles(tenant))
    assert [r["key"] for r in listing.json[:4]] == ["owner", "admin", "member", "viewer"]
    assert all(r["builtin"] for r in listing.json[:4])
    assert "X-Pagination" in listing.headers
    for method in ("PATCH", "DELETE"):
        response = api.open(method, f"{_roles(tenant)}/viewer", json={"name": "Mine"})
        assert response.status_code == 409
        assert response.mimetype == "application/problem+json"
    taken = api.post(_roles(tenant), json={"key": "admin", "name": "Admin 2"})
    assert taken.status_code == 409


@pytest.mark.parametrize(
    "body, field",
    [
        ({"key": "Bad Key", "name": "x"}, "key"),
        ({"key": "ok-key", "name": "x", "permissions": ["no:such:perm"]}, "permissions"),
        # Platform-only permissions would let a tenant raise its own quota.
        ({"key": "ok-key", "name": "x", "permissions": ["tm:quota:write"]}, "permissions"),
        ({"key": "ok-key", "name": " "}, "name"),
        ({"key": "ok-key"}, "name"),
    ],
)
def test_bad_roles_are_refused_and_change_nothing(api_as, tenant, body, field):
    api = api_as(make_member(tenant, "owner"))
    before = api.get(_roles(tenant)).json
    response = api.post(_roles(tenant), json=body)
    assert 400 <= response.status_code < 500 and response.status_code != 404
    assert response.mimetype == "application/problem+json"
    assert field in str(response.json.get("errors")), response.json
    assert api.get(_roles(tenant)).json == before


def test_a_member_reads_roles_but_cannot_define_them(api_as, tenant):
    api = api_as(make_member(tenant, "member"))
    assert api.get(_roles(tenant)).status_code == 200
    response = api.post(_roles(tenant), json={"key": "sneaky", "name": "Sneaky"})
    assert response.status_code == 403 and "iam:role:write" in response.json["detail"]


def test_roles_of_one_tenant_mean_nothing_in_another(api_as, admin):
    tenant_a, tenant_b = make_tenant(owner=admin), make_tenant(owner=admin)
    api = api_as(admin)
    api.post(_roles(tenant_a), json={"key": "auditor", "name": "Auditor", "permissions": ["tm:audit:read"]})
    user = make_member(tenant_b, "viewer")
    assert (
        api.post(f"{_roles(tenant_b)}/auditor/bindings", json={"user_email": user.email}).status_code == 404
    )
    assert api_as(user).get(f"/api/v1/tenants/{tenant_b.slug}/audit").status_code == 403


def test_binding_needs_a_member_of_the_tenant(api_as, tenant):
    api = api_as(make_member(tenant, "owner"))
    api.post(_roles(tenant), json={"key": "auditor", "name": "Auditor", "permissions": ["tm:audit:read"]})
    stranger = make_user()
    response = api.post(f"{_roles(tenant)}/auditor/bindings", json={"user_email": stranger.email})
    assert response.status_code == 422 and "not a member" in response.json["detail"]
    both = api.post(f"{_roles(tenant)}/auditor/bindings", json={})
    assert both.status_code == 422
    # A stranger bound nowhere still cannot see the tenant at all.
    assert api_as(stranger).get(f"/api/v1/tenants/{tenant.slug}").status_code == 404


def test_deleting_a_role_takes_its_permissions_away(api_as, tenant):
    owner_api = api_as(make_member(tenant, "owner"))
    viewer = make_member(tenant, "viewer")
    owner_api.post(
        _roles(tenant), json={"key": "auditor", "name": "Auditor", "permissions": ["tm:audit:read"]}
    )
    owner_api.post(f"{_roles(tenant)}/auditor/bindings", json={"user_email": viewer.email})
    assert api_as(viewer).get(f"/api/v1/tenants/{tenant.slug}/audit").status_code == 200
    assert owner_api.delete(f"{_roles(tenant)}/auditor").status_code == 204
    assert api_as(viewer).get(f"/api/v1/tenants/{tenant.slug}/audit").status_code == 403
    assert owner_api.get(f"{_roles(tenant)}/auditor").status_code == 404


def test_an_admin_cannot_grant_more_than_an_admin_holds(api_as, tenant):
    api = api_as(make_member(tenant, "admin"))
    ok = api.post(_roles(tenant), json={"key": "copy", "name": "Copy", "permissions": ["tm:member:read"]})
    assert ok.status_code == 201


# -- the permission matrix, for a custom role ----------------------------------------------------


def _tenant_permissions():
    """Tenant-scoped permissions a custom role may hold (the catalog is filled once the app exists)."""
    assignable = set().union(*catalog.tenant_roles.values())
    return sorted(p for p, needs in REQUESTS.items() if needs.scope == "tenant" and p in assignable)


@pytest.mark.parametrize("permission", sorted(p for p, needs in REQUESTS.items() if needs.scope == "tenant"))
def test_custom_role_holding_one_permission_gets_exactly_that(api_as, tenant, admin, permission):
    """A viewer bound to a role of one permission gets what the viewer had plus that one."""
    from taiji.modules.iam.roles import services as roles
    from taiji.platform.db import db

    if permission not in _tenant_permissions():
        pytest.skip(f"{permission} is not held by any built-in tenant role, so no custom role may hold it")
    user = make_member(tenant, "viewer")
    roles.create_role(tenant, {"key": "only-one", "name": "One", "permissions": [permission]})
    roles.bind(tenant, "only-one", email=user.email)
    db.session.commit()
    response = send(api_as(user), REQUESTS[permission], tenant)
    assert response.status_code < 300, response.json
    others = [
        p
        for p in _tenant_permissions()
        if p != permission and p not in catalog.tenant_role_permissions("viewer")
    ]
    if others:
        refused = send(api_as(user), REQUESTS[others[0]], tenant)
        assert refused.status_code == 403, refused.json
