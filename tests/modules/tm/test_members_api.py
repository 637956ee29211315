"""The members endpoint: every caller kind, and the happy path."""

from __future__ import annotations

import pytest

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
    response = api_as(viewer).post(
        f"/api/v1/tenants/{tenant.slug}/invitations", json={"email": "x@example.com"}
    )
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


# -- adding, reading, changing and removing members ------------------------------------------

from taiji.modules.tm import services  # noqa: E402
from tests.factories import database_state  # noqa: E402


def _ready(api):
    api.get("/api/v1/me")  # a token's first use records itself; not the change under test
    return api


def test_owner_adds_an_existing_user_who_joins_by_accepting(api_as, tenant, admin):
    user = make_user()
    response = api_as(admin).post(
        f"/api/v1/tenants/{tenant.slug}/members", json={"email": user.email, "role": "viewer"}
    )
    assert response.status_code == 202
    assert response.json["role"] == "viewer" and response.json["state"] == "pending"
    invitee = api_as(user)
    [waiting] = invitee.get("/api/v1/me/invitations").json
    assert invitee.post(f"/api/v1/me/invitations/{waiting['id']}/accept").status_code == 200
    assert services.get_member(tenant, user.id).role == "viewer"


@pytest.mark.parametrize(
    "body, status",
    [
        ({"email": "not-an-email"}, 422),
        ({"email": "x@example.com", "role": "god"}, 422),
        ({}, 422),
    ],
)
def test_bad_member_input_changes_nothing(api_as, tenant, admin, body, status):
    api = _ready(api_as(admin))
    before = database_state()
    response = api.post(f"/api/v1/tenants/{tenant.slug}/members", json=body)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert database_state() == before


def test_adding_a_member_twice_is_409(api_as, tenant, admin):
    member = make_member(tenant)
    api = _ready(api_as(admin))
    before = database_state()
    response = api.post(f"/api/v1/tenants/{tenant.slug}/members", json={"email": member.email})
    assert response.status_code == 409
    assert database_state() == before


def test_member_reads_one_member(api_as, tenant, admin):
    viewer = make_member(tenant, "viewer")
    response = api_as(viewer).get(f"/api/v1/tenants/{tenant.slug}/members/{admin.id}")
    assert response.status_code == 200
    assert response.json["email"] == admin.email and response.json["role"] == "owner"


def test_non_member_id_is_404(api_as, tenant, admin):
    stranger = make_user()
    assert api_as(admin).get(f"/api/v1/tenants/{tenant.slug}/members/{stranger.id}").status_code == 404


def test_members_filter_by_role_and_text(api_as, tenant, admin):
    viewer = make_member(tenant, "viewer", name="Ada Viewer")
    make_member(tenant, "member")
    api = api_as(admin)
    assert [m["user_id"] for m in api.get(f"/api/v1/tenants/{tenant.slug}/members?role=viewer").json] == [
        viewer.id
    ]
    assert [m["user_id"] for m in api.get(f"/api/v1/tenants/{tenant.slug}/members?q=ada").json] == [viewer.id]


def test_tenant_admin_changes_a_role(api_as, tenant):
    tenant_admin = make_member(tenant, "admin")
    member = make_member(tenant, "member")
    response = api_as(tenant_admin).patch(
        f"/api/v1/tenants/{tenant.slug}/members/{member.id}", json={"role": "viewer"}
    )
    assert response.status_code == 200
    assert services.get_member(tenant, member.id).role == "viewer"


def test_member_cannot_change_roles(api_as, tenant):
    member = make_member(tenant, "member")
    other = make_member(tenant, "viewer")
    response = api_as(member).patch(
        f"/api/v1/tenants/{tenant.slug}/members/{other.id}", json={"role": "admin"}
    )
    assert response.status_code == 403
    assert services.get_member(tenant, other.id).role == "viewer"


# -- owners -----------------------------------------------------------------------------------


@pytest.fixture
def owned(tenant):
    """A tenant whose only owner is a plain user (the platform administrator who made it left)."""
    from taiji.platform.db import db
    from tests.factories import system_principal

    owner = make_member(tenant, "owner")
    for member in services.list_members(tenant, role="owner").items:
        if member.user_id != owner.id:
            services.remove_member(tenant, member.user_id, actor=system_principal())
    db.session.commit()
    return tenant, owner


def test_the_last_owner_cannot_be_demoted(api_as, owned):
    tenant, owner = owned
    response = api_as(owner).patch(
        f"/api/v1/tenants/{tenant.slug}/members/{owner.id}", json={"role": "admin"}
    )
    assert response.status_code == 409
    assert "last owner" in response.json["detail"]
    assert services.get_member(tenant, owner.id).role == "owner"


def test_the_last_owner_cannot_leave(api_as, owned):
    tenant, owner = owned
    response = api_as(owner).delete(f"/api/v1/tenants/{tenant.slug}/members/{owner.id}")
    assert response.status_code == 409
    assert services.get_member(tenant, owner.id).role == "owner"


def test_an_owner_can_leave_when_another_owner_remains(api_as, owned):
    tenant, owner = owned
    second = make_member(tenant, "owner")
    assert api_as(owner).delete(f"/api/v1/tenants/{tenant.slug}/members/{owner.id}").status_code == 204
    assert services.get_member(tenant, second.id).role == "owner"
    assert services.count_members(tenant) == 1


def test_only_owners_grant_the_owner_role(api_as, owned):
    tenant, owner = owned
    tenant_admin = make_member(tenant, "admin")
    member = make_member(tenant, "member")
    denied = api_as(tenant_admin).patch(
        f"/api/v1/tenants/{tenant.slug}/members/{member.id}", json={"role": "owner"}
    )
    assert denied.status_code == 403
    invite = api_as(tenant_admin).post(
        f"/api/v1/tenants/{tenant.slug}/invitations", json={"email": "boss@example.com", "role": "owner"}
    )
    assert invite.status_code == 403
    granted = api_as(owner).patch(
        f"/api/v1/tenants/{tenant.slug}/members/{member.id}", json={"role": "owner"}
    )
    assert granted.status_code == 200
    assert services.get_member(tenant, member.id).role == "owner"


def test_only_owners_take_the_owner_role_away(api_as, owned):
    tenant, owner = owned
    second = make_member(tenant, "owner")
    tenant_admin = make_member(tenant, "admin")
    api = api_as(tenant_admin)
    assert (
        api.patch(f"/api/v1/tenants/{tenant.slug}/members/{second.id}", json={"role": "member"}).status_code
        == 403
    )
    assert api.delete(f"/api/v1/tenants/{tenant.slug}/members/{second.id}").status_code == 403
    assert services.get_member(tenant, second.id).role == "owner"
    assert (
        api_as(owner)
        .patch(f"/api/v1/tenants/{tenant.slug}/members/{second.id}", json={"role": "member"})
        .status_code
        == 200
    )


def test_a_member_may_leave_but_not_remove_others(api_as, tenant):
    member = make_member(tenant, "member")
    other = make_member(tenant, "member")
    api = api_as(member)
    assert api.delete(f"/api/v1/tenants/{tenant.slug}/members/{other.id}").status_code == 403
    assert api.delete(f"/api/v1/tenants/{tenant.slug}/members/{member.id}").status_code == 204
    with pytest.raises(services.NotFound):
        services.get_member(tenant, member.id)
    # Gone means gone: the next call is a stranger's.
    assert api.get(f"/api/v1/tenants/{tenant.slug}/members").status_code == 404
