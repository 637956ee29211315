"""/api/v1/tenants/<tenant>/invitations and /api/v1/invitations/<token>/accept."""

from __future__ import annotations

import datetime as dt

import pytest

from taiji.modules.tm import services
from taiji.modules.tm.models import Invitation
from taiji.platform.db import db
from tests.factories import database_state, make_invitation, make_member, make_user


def _ready(api):
    api.get("/api/v1/me")  # a token's first use records itself; not the change under test
    return api


def _token_of(response) -> str:
    return response.json["accept_url"].rsplit("/", 1)[1]


def test_owner_invites_and_gets_the_link_once(api_as, tenant, admin):
    api = api_as(admin)
    response = api.post(
        f"/api/v1/tenants/{tenant.slug}/invitations", json={"email": "New@Example.com", "role": "viewer"}
    )
    assert response.status_code == 201
    assert response.json["email"] == "new@example.com" and response.json["state"] == "pending"
    token = _token_of(response)
    listed = api.get(f"/api/v1/tenants/{tenant.slug}/invitations").json
    assert [i["email"] for i in listed] == ["new@example.com"]
    assert "accept_url" not in listed[0]
    stored = db.session.get(Invitation, response.json["id"])
    assert token not in stored.token_hash


@pytest.mark.parametrize(
    "body, status",
    [
        ({"email": "not an email"}, 422),
        ({"email": "x@example.com", "role": "king"}, 422),
        ({"role": "member"}, 422),
        ("just text", 422),
    ],
)
def test_bad_invitation_changes_nothing(api_as, tenant, admin, body, status):
    api = _ready(api_as(admin))
    before = database_state()
    response = api.post(f"/api/v1/tenants/{tenant.slug}/invitations", json=body)
    assert response.status_code == status
    assert database_state() == before


def test_inviting_a_member_is_409(api_as, tenant, admin):
    member = make_member(tenant)
    api = _ready(api_as(admin))
    before = database_state()
    response = api.post(f"/api/v1/tenants/{tenant.slug}/invitations", json={"email": member.email})
    assert response.status_code == 409
    assert database_state() == before


def test_viewer_sees_invitations_but_cannot_revoke(api_as, tenant):
    invitation, _ = make_invitation(tenant)
    viewer = make_member(tenant, "viewer")
    api = api_as(viewer)
    assert [i["id"] for i in api.get(f"/api/v1/tenants/{tenant.slug}/invitations").json] == [invitation.id]
    assert api.delete(f"/api/v1/tenants/{tenant.slug}/invitations/{invitation.id}").status_code == 403
    assert invitation.state(dt.datetime.now(dt.UTC)) == "pending"


def test_revoked_invitation_cannot_be_accepted(api_as, tenant, admin):
    user = make_user()
    invitation, token = make_invitation(tenant, email=user.email)
    assert (
        api_as(admin).delete(f"/api/v1/tenants/{tenant.slug}/invitations/{invitation.id}").status_code == 204
    )
    response = api_as(user).post(f"/api/v1/invitations/{token}/accept")
    assert response.status_code == 409
    assert "withdrawn" in response.json["detail"]
    assert services.count_members(tenant) == 1
    again = api_as(admin).delete(f"/api/v1/tenants/{tenant.slug}/invitations/{invitation.id}")
    assert again.status_code == 409


def test_unknown_invitation_id_is_404(api_as, tenant, admin):
    assert api_as(admin).delete(f"/api/v1/tenants/{tenant.slug}/invitations/999999").status_code == 404


def test_invited_user_accepts_with_the_invited_role(api_as, tenant):
    user = make_user()
    _, token = make_invitation(tenant, email=user.email, role="viewer")
    response = api_as(user).post(f"/api/v1/invitations/{token}/accept")
    assert response.status_code == 200
    assert response.json["slug"] == tenant.slug
    assert services.get_member(tenant, user.id).role == "viewer"


def test_accepting_twice_is_409(api_as, tenant):
    user = make_user()
    _, token = make_invitation(tenant, email=user.email)
    api = api_as(user)
    assert api.post(f"/api/v1/invitations/{token}/accept").status_code == 200
    second = api.post(f"/api/v1/invitations/{token}/accept")
    assert second.status_code == 409
    assert "already accepted" in second.json["detail"]


def test_another_users_invitation_is_403(api_as, tenant):
    invited = make_user()
    intruder = make_user()
    _, token = make_invitation(tenant, email=invited.email)
    api = _ready(api_as(intruder))
    before = database_state()
    response = api.post(f"/api/v1/invitations/{token}/accept")
    assert response.status_code == 403
    assert invited.email in response.json["detail"]
    assert database_state() == before


def test_expired_invitation_is_409(api_as, tenant):
    user = make_user()
    invitation, token = make_invitation(tenant, email=user.email)
    invitation.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    db.session.commit()
    response = api_as(user).post(f"/api/v1/invitations/{token}/accept")
    assert response.status_code == 409
    assert "expired" in response.json["detail"]
    assert api_as(user).get(f"/api/v1/tenants/{tenant.slug}").status_code == 404
    listed = api_as(tenant_owner(tenant)).get(f"/api/v1/tenants/{tenant.slug}/invitations?all=true").json
    assert [i["state"] for i in listed] == ["expired"]


def tenant_owner(tenant):
    from taiji.modules.iam import services as iam

    owner_id = next(m.user_id for m in services.list_members(tenant, role="owner").items)
    return iam.get_user(owner_id)


def test_reinviting_replaces_the_old_link(api_as, tenant, admin):
    user = make_user()
    api = api_as(admin)
    first = api.post(f"/api/v1/tenants/{tenant.slug}/invitations", json={"email": user.email})
    second = api.post(
        f"/api/v1/tenants/{tenant.slug}/invitations", json={"email": user.email, "role": "admin"}
    )
    assert first.status_code == second.status_code == 201
    pending = api.get(f"/api/v1/tenants/{tenant.slug}/invitations").json
    assert [i["id"] for i in pending] == [second.json["id"]]
    invitee = api_as(user)
    assert invitee.post(f"/api/v1/invitations/{_token_of(first)}/accept").status_code == 409
    assert invitee.post(f"/api/v1/invitations/{_token_of(second)}/accept").status_code == 200
    assert services.get_member(tenant, user.id).role == "admin"


def test_unknown_token_is_404(api_as):
    response = api_as(make_user()).post("/api/v1/invitations/not-a-token/accept")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_invitation_to_a_suspended_tenant_cannot_be_accepted(api_as, tenant):
    from taiji.platform.tenancy import TenantStatus

    user = make_user()
    _, token = make_invitation(tenant, email=user.email)
    services.set_tenant_status(tenant, TenantStatus.SUSPENDED)
    db.session.commit()
    response = api_as(user).post(f"/api/v1/invitations/{token}/accept")
    assert response.status_code == 409
    assert "suspended" in response.json["detail"]
