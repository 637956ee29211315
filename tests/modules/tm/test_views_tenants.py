"""Start page, tenant overview, audit log, settings, tenant administration, invitations, navigation."""

from __future__ import annotations

import pytest

from taiji.modules.iam import services as iam
from taiji.modules.tm import services as tm
from taiji.platform.auth import Principal
from taiji.platform.tenancy import tenant_by_slug
from tests.factories import PASSWORD, make_member, make_tenant, make_user

SYSTEM = Principal(user_id=0, email="system", name="system", is_admin=True, via="test")


def test_start_page_sends_anonymous_visitors_to_sign_in(client):
    assert client.get("/").headers["Location"].startswith("/login")


def test_start_page_takes_a_one_tenant_member_straight_to_it(login, client, tenant):
    member = make_member(tenant, "member")
    login(member)
    assert client.get("/").headers["Location"] == f"/t/{tenant.slug}/"


def test_start_page_of_a_user_without_tenants_shows_an_empty_state(login, client):
    login(make_user())
    body = client.get("/").get_data(as_text=True)
    assert 'data-testid="empty-state"' in body
    assert "Ask a tenant owner to invite you." in body


def test_start_page_lists_the_users_tenants(login, client, admin):
    first, second = make_tenant(owner=admin), make_tenant(owner=admin)
    login(admin)
    body = client.get("/").get_data(as_text=True)
    assert first.name in body and second.name in body


def test_overview_shows_quota_usage_against_limits(login, client, tenant, admin):
    make_member(tenant, "viewer")
    login(admin)
    response = client.get(f"/t/{tenant.slug}/")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-testid="quota-table"' in body
    assert "<td>2</td>" in body and "<td>500</td>" in body
    assert "<td>0 B</td>" in body and "<td>5 GiB</td>" in body  # repository storage, in bytes for people


def test_overview_is_404_for_outsiders_and_unknown_tenants(login, client, tenant):
    login(make_member(make_tenant(), "owner"))
    assert client.get(f"/t/{tenant.slug}/").status_code == 404
    assert client.get("/t/no-such-tenant/").status_code == 404


def test_navigation_shows_only_what_the_role_may_use(login, client, tenant):
    viewer = make_member(tenant, "viewer")
    login(viewer)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert f'href="/t/{tenant.slug}/members"' in body
    assert f'href="/t/{tenant.slug}/audit"' not in body
    assert f'href="/t/{tenant.slug}/settings"' not in body
    assert 'href="/admin/tenants"' not in body


def test_tenant_switcher_lists_only_the_users_tenants(login, client, tenant):
    member = make_member(tenant, "member")
    mine = make_tenant(owner=member)
    foreign = make_tenant()
    login(member)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    switcher = body.split('data-testid="tenant-switcher"')[1].split("</select>")[0]
    assert tenant.name in switcher and mine.name in switcher
    assert foreign.name not in switcher


def test_audit_log_is_for_owners_and_admins_only(login, client, tenant):
    login(make_member(tenant, "member"))
    assert client.get(f"/t/{tenant.slug}/audit").status_code == 403


def test_audit_log_filters_by_action(login, client, tenant, admin):
    make_member(tenant, "viewer")
    tm.rename_tenant(tenant, "Renamed")
    login(admin)
    page = client.get(f"/t/{tenant.slug}/audit", query_string={"action": "tm.tenant.renamed"})
    body = page.get_data(as_text=True)
    assert 'data-action="tm.tenant.renamed"' in body
    assert 'data-action="tm.member.added"' not in body
    empty = client.get(f"/t/{tenant.slug}/audit", query_string={"action": "nothing.like.this"})
    assert "No entries match" in empty.get_data(as_text=True)


def test_audit_log_is_paged(login, client, tenant, admin):
    for n in range(21):
        tm.rename_tenant(tenant, f"Name {n}")
    login(admin)
    first = client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    assert "page 1 of 2" in first
    second = client.get(f"/t/{tenant.slug}/audit", query_string={"page": 2}).get_data(as_text=True)
    assert "page 2 of 2" in second
    assert first.count('data-testid="audit-entry"') == 20


def test_settings_rename_the_tenant(login, client, tenant, admin):
    login(admin)
    response = client.post(f"/t/{tenant.slug}/settings", data={"name": "  Fresh Name  "})
    assert response.status_code == 302
    assert tenant_by_slug(tenant.slug).name == "Fresh Name"


def test_settings_with_empty_name_show_inline_error(login, client, tenant, admin):
    login(admin)
    response = client.post(f"/t/{tenant.slug}/settings", data={"name": ""})
    assert response.status_code == 422
    assert "invalid-feedback" in response.get_data(as_text=True)
    assert tenant_by_slug(tenant.slug).name == tenant.name


def test_settings_are_403_for_members(login, client, tenant):
    login(make_member(tenant, "member"))
    assert client.get(f"/t/{tenant.slug}/settings").status_code == 403
    assert client.post(f"/t/{tenant.slug}/settings", data={"name": "Mine now"}).status_code == 403


def test_tenant_administration_is_403_for_plain_users(login, client):
    login(make_user())
    assert client.get("/admin/tenants").status_code == 403
    assert client.post("/admin/tenants", data={"slug": "sneaky", "name": "Sneaky"}).status_code == 403
    assert tenant_by_slug("sneaky") is None


def test_administrator_creates_a_tenant_and_becomes_its_owner(login, client, admin):
    login(admin)
    response = client.post("/admin/tenants", data={"slug": "Shop", "name": "Shop Team"})
    assert response.headers["Location"] == "/t/shop/"
    created = tenant_by_slug("shop")
    assert created.name == "Shop Team"
    assert iam.tenant_roles(created)[admin.id] == "owner"


@pytest.mark.parametrize(("slug", "message"), [
    ("", "This field is required."),
    ("-bad-", "lowercase letters, digits and dashes"),
    ("admin", "This slug is reserved; choose another."),
])
def test_bad_slug_is_an_inline_error(login, client, admin, slug, message):
    login(admin)
    response = client.post("/admin/tenants", data={"slug": slug, "name": "Whatever"})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert tm.count_tenants() == 0


def test_taken_slug_is_an_inline_error(login, client, admin, tenant):
    login(admin)
    response = client.post("/admin/tenants", data={"slug": tenant.slug, "name": "Again"})
    assert response.status_code == 422
    assert "This slug is taken; choose another." in response.get_data(as_text=True)


def test_suspended_tenant_is_closed_to_members_until_reactivated(login, client, tenant, admin):
    member = make_member(tenant, "member", password=PASSWORD)
    login(admin)
    client.post(f"/admin/tenants/{tenant.slug}/status", data={"status": "suspended"})
    assert not tenant_by_slug(tenant.slug).is_active
    client.post("/logout")
    login(member)
    assert client.get(f"/t/{tenant.slug}/").status_code == 403
    client.post("/logout")
    login(admin)
    assert "This tenant is suspended" in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    client.post(f"/admin/tenants/{tenant.slug}/status", data={"status": "active"})
    client.post("/logout")
    login(member)
    assert client.get(f"/t/{tenant.slug}/").status_code == 200


def test_unknown_tenant_status_is_400(login, client, tenant, admin):
    login(admin)
    assert client.post(f"/admin/tenants/{tenant.slug}/status", data={"status": "deleted"}).status_code == 400
    assert tenant_by_slug(tenant.slug).is_active


def test_invalid_invitation_link_is_404(client):
    response = client.get("/invitations/not-a-real-token")
    assert response.status_code == 404
    assert 'data-testid="invitation-invalid"' in response.get_data(as_text=True)


def test_new_address_registers_and_joins_from_the_invitation(client, tenant):
    _, token = tm.invite(tenant, "newcomer@example.com", "member", actor=SYSTEM)
    page = client.get(f"/invitations/{token}").get_data(as_text=True)
    assert 'data-testid="register-form"' in page
    response = client.post(f"/invitations/{token}", data={"name": "New Comer", "password": "a-long-password"})
    assert response.headers["Location"] == f"/t/{tenant.slug}/"
    user = iam.get_user_by_email("newcomer@example.com")
    assert iam.tenant_roles(tenant)[user.id] == "member"
    assert client.get(f"/t/{tenant.slug}/").status_code == 200
    assert tm.find_invitation(token).state == "accepted"


def test_register_with_weak_password_shows_inline_error(client, tenant):
    _, token = tm.invite(tenant, "weak@example.com", "member", actor=SYSTEM)
    response = client.post(f"/invitations/{token}", data={"name": "Weak", "password": "aaaaaaaaaaaa"})
    assert response.status_code == 422
    assert "too easy to guess" in response.get_data(as_text=True)
    assert iam.get_user_by_email("weak@example.com") is None


def test_invitation_for_someone_else_is_refused(login, client, tenant):
    _, token = tm.invite(tenant, "intended@example.com", "member", actor=SYSTEM)
    login(make_user())
    response = client.post(f"/invitations/{token}")
    assert response.status_code == 403
    assert "This invitation is for another email address." in response.get_data(as_text=True)


def test_withdrawn_invitation_says_so(client, tenant):
    invitation, token = tm.invite(tenant, "gone@example.com", "member", actor=SYSTEM)
    tm.revoke_invitation(tenant, invitation.id)
    body = client.get(f"/invitations/{token}").get_data(as_text=True)
    assert "This invitation was withdrawn." in body
    assert 'data-testid="register-form"' not in body


def test_settings_switch_on_two_factor_enforcement(login, client, tenant, admin):
    login(admin)
    assert 'data-testid="mfa-required"' in client.get(f"/t/{tenant.slug}/settings").get_data(as_text=True)
    on = client.post(f"/t/{tenant.slug}/settings", data={"name": tenant.name, "mfa_required": "y"})
    assert on.status_code == 302 and tenant_by_slug(tenant.slug).mfa_required is True
    # From now on the tenant's console asks this administrator (no second factor yet) to enrol.
    again = client.get(f"/t/{tenant.slug}/settings")
    assert again.status_code == 302 and "/profile/mfa" in again.headers["Location"]
