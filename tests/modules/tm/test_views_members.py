"""The members page: who may see and change what, invitations, roles, removal, leaving."""

from __future__ import annotations

import re

import pytest

from taiji.modules.tm import services as tm
from taiji.platform import quotas
from taiji.platform.auth import Principal
from taiji.platform.db import db
from tests.factories import make_member, make_tenant, make_user

SYSTEM = Principal(user_id=0, email="system", name="system", is_admin=True, via="test")


def _roles(tenant) -> dict[str, str]:
    return {m.email: m.role for m in tm.list_members(tenant, page_size=100).items}


def test_members_page_lists_members_with_roles(login, client, tenant, admin):
    viewer = make_member(tenant, "viewer")
    login(admin)
    response = client.get(f"/t/{tenant.slug}/members")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert viewer.email in body and admin.email in body
    assert 'data-testid="invite-form"' in body


def test_viewer_sees_members_but_no_invite_form_or_remove_buttons(login, client, tenant):
    viewer = make_member(tenant, "viewer")
    login(viewer)
    body = client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    assert 'data-testid="members-table"' in body
    assert 'data-testid="invite-form"' not in body
    assert ">Remove<" not in body
    assert ">Leave<" in body


def test_members_page_is_404_for_another_tenants_member(login, client, tenant):
    outsider = make_member(make_tenant(), "owner")
    login(outsider)
    assert client.get(f"/t/{tenant.slug}/members").status_code == 404


def test_owner_invites_and_sees_the_link_once(login, client, tenant, admin):
    login(admin)
    response = client.post(f"/t/{tenant.slug}/invitations",
                           data={"email": "Friend@Example.com", "role": "member"})
    assert response.status_code == 302
    page = client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    field = re.search(r'<input[^>]*data-testid="invitation-link"[^>]*>', page).group(0)
    url = re.search(r'value="([^"]+)"', field).group(1)
    assert url.startswith("http://taiji.test/invitations/")
    assert "friend@example.com" in page
    assert url not in client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    assert tm.find_invitation(url.rsplit("/", 1)[1]).state == "pending"


@pytest.mark.parametrize(("data", "message"), [
    ({"email": "", "role": "member"}, "This field is required."),
    ({"email": "not-an-email", "role": "member"}, "Invalid email address."),
    ({"email": "x@example.com", "role": "god"}, "Not a valid choice."),
])
def test_bad_invitation_shows_inline_error_and_invites_nobody(login, client, tenant, admin, data, message):
    login(admin)
    response = client.post(f"/t/{tenant.slug}/invitations", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert tm.list_invitations(tenant).items == []


def test_inviting_a_member_again_is_an_inline_error(login, client, tenant, admin):
    member = make_member(tenant, "member")
    login(admin)
    response = client.post(f"/t/{tenant.slug}/invitations", data={"email": member.email, "role": "member"})
    assert response.status_code == 422
    assert "This person is already a member." in response.get_data(as_text=True)


def test_invitation_over_the_member_quota_says_what_to_do(login, client, tenant, admin):
    quotas.set_limit(tenant, tm.MEMBERS_METER, 1)
    login(admin)
    response = client.post(f"/t/{tenant.slug}/invitations",
                           data={"email": "more@example.com", "role": "member"})
    assert response.status_code == 422
    assert "raise the limit" in response.get_data(as_text=True)


def test_viewer_cannot_invite(login, client, tenant):
    viewer = make_member(tenant, "viewer")
    login(viewer)
    response = client.post(f"/t/{tenant.slug}/invitations", data={"email": "x@example.com", "role": "member"})
    assert response.status_code == 403
    assert tm.list_invitations(tenant).items == []


def test_owner_withdraws_a_pending_invitation(login, client, tenant, admin):
    invitation, token = tm.invite(tenant, "late@example.com", "member", actor=SYSTEM)
    login(admin)
    body = client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    assert "late@example.com" in body and "data-confirm=" in body
    response = client.post(f"/t/{tenant.slug}/invitations/{invitation.id}/revoke")
    assert response.status_code == 302
    assert tm.find_invitation(token).state == "revoked"
    again = client.post(f"/t/{tenant.slug}/invitations/{invitation.id}/revoke", follow_redirects=True)
    assert "Only a pending invitation can be withdrawn." in again.get_data(as_text=True)


def test_owner_changes_a_role(login, client, tenant, admin):
    member = make_member(tenant, "member")
    login(admin)
    response = client.post(f"/t/{tenant.slug}/members/{member.id}/role", data={"role": "admin"},
                           follow_redirects=True)
    assert "Role changed." in response.get_data(as_text=True)
    assert _roles(tenant)[member.email] == "admin"


def test_last_owner_cannot_leave_or_be_demoted(login, client):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    login(owner)
    response = client.post(f"/t/{tenant.slug}/members/{owner.id}/remove", follow_redirects=True)
    assert "last owner" in response.get_data(as_text=True)
    response = client.post(f"/t/{tenant.slug}/members/{owner.id}/role", data={"role": "member"},
                           follow_redirects=True)
    assert "last owner" in response.get_data(as_text=True)
    assert _roles(tenant)[owner.email] == "owner"


def test_unknown_role_changes_nothing(login, client, tenant, admin):
    member = make_member(tenant, "member")
    login(admin)
    response = client.post(f"/t/{tenant.slug}/members/{member.id}/role", data={"role": "god"},
                           follow_redirects=True)
    assert "Choose one of the roles offered." in response.get_data(as_text=True)
    assert _roles(tenant)[member.email] == "member"


def test_admin_member_cannot_make_an_owner(login, client, tenant):
    tenant_admin = make_member(tenant, "admin")
    member = make_member(tenant, "member")
    login(tenant_admin)
    response = client.post(f"/t/{tenant.slug}/members/{member.id}/role", data={"role": "owner"},
                           follow_redirects=True)
    assert "Only an owner can" in response.get_data(as_text=True)
    assert _roles(tenant)[member.email] == "member"


def test_owner_removes_a_member(login, client, tenant, admin):
    member = make_member(tenant, "member")
    login(admin)
    response = client.post(f"/t/{tenant.slug}/members/{member.id}/remove", follow_redirects=True)
    assert "Member removed." in response.get_data(as_text=True)
    assert member.email not in _roles(tenant)


def test_member_cannot_remove_someone_else(login, client, tenant, admin):
    member = make_member(tenant, "member")
    login(member)
    assert client.post(f"/t/{tenant.slug}/members/{admin.id}/remove").status_code == 403
    assert admin.email in _roles(tenant)


def test_member_leaves_and_loses_access(login, client, tenant):
    member = make_member(tenant, "member")
    login(member)
    response = client.post(f"/t/{tenant.slug}/members/{member.id}/remove")
    assert response.headers["Location"] == "/"
    assert member.email not in _roles(tenant)
    assert client.get(f"/t/{tenant.slug}/").status_code == 404


def test_removing_someone_who_is_not_a_member_is_404(login, client, tenant, admin):
    member = make_member(tenant, "member")
    login(admin)
    client.post(f"/t/{tenant.slug}/members/{member.id}/remove")
    assert client.post(f"/t/{tenant.slug}/members/{member.id}/remove").status_code == 404


def test_plain_user_invite_accept_flow_for_existing_account(login, client, tenant):
    invited = make_user()
    _, token = tm.invite(tenant, invited.email, "viewer", actor=SYSTEM)
    page = client.get(f"/invitations/{token}").get_data(as_text=True)
    assert 'data-testid="sign-in-to-accept"' in page
    login(invited)
    response = client.post(f"/invitations/{token}")
    assert response.headers["Location"] == f"/t/{tenant.slug}/"
    assert _roles(tenant)[invited.email] == "viewer"


def test_pending_invitations_are_a_paged_list_with_an_empty_state(login, client, tenant, admin, monkeypatch):
    from taiji.modules.tm import views

    login(admin)
    client.post("/locale", data={"locale": "zh_Hans"})
    body = client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    assert "暂无待处理的邀请。" in body and 'data-testid="invitations-table"' not in body
    monkeypatch.setattr(views, "INVITATIONS_PAGE", 2)
    for n in range(3):
        tm.invite(tenant, f"guest{n}@example.com", "member", actor=SYSTEM)
    db.session.commit()
    first = client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    assert first.count('data-testid="invitation-row"') == 2 and 'data-testid="invitations-table"' in first
    assert "invitations_page=2" in first
    second = client.get(f"/t/{tenant.slug}/members?invitations_page=2").get_data(as_text=True)
    assert second.count('data-testid="invitation-row"') == 1
    assert second.count('data-testid="member-row"') == first.count('data-testid="member-row"')
