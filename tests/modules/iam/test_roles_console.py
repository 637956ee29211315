"""Console pages for roles and groups: lists, forms, empty states, and refusals as messages."""

from __future__ import annotations

from taiji.modules.iam.roles import services as roles
from tests.factories import make_member


def test_owner_creates_a_role_and_binds_a_group_in_the_console(login, tenant):
    owner = make_member(tenant, "owner")
    viewer = make_member(tenant, "viewer")
    client = login(owner)
    page = client.get(f"/t/{tenant.slug}/roles")
    assert page.status_code == 200 and 'data-testid="role-form"' in page.get_data(as_text=True)

    made = client.post(
        f"/t/{tenant.slug}/roles",
        data={"key": "auditor", "name": "Auditor", "permissions": ["tm:audit:read"]},
        follow_redirects=True,
    )
    assert "Role created." in made.get_data(as_text=True)
    assert roles.get_role(tenant, "auditor").permissions == ["tm:audit:read"]

    groups = client.get(f"/t/{tenant.slug}/groups").get_data(as_text=True)
    assert "No groups yet" in groups
    client.post(f"/t/{tenant.slug}/groups", data={"key": "sec", "name": "Security"})
    client.post(f"/t/{tenant.slug}/groups/sec/members", data={"email": viewer.email})
    client.post(f"/t/{tenant.slug}/roles/auditor/bindings", data={"group": "sec"})
    detail = client.get(f"/t/{tenant.slug}/roles/auditor").get_data(as_text=True)
    assert 'data-testid="binding-row"' in detail and "sec" in detail
    group_page = client.get(f"/t/{tenant.slug}/groups/sec").get_data(as_text=True)
    assert viewer.email in group_page


def test_console_refusals_are_messages_and_change_nothing(login, tenant):
    client = login(make_member(tenant, "owner"))
    bad = client.post(f"/t/{tenant.slug}/roles", data={"key": "Bad Key", "name": "x"}, follow_redirects=True)
    assert "lowercase letters" in bad.get_data(as_text=True)
    builtin = client.post(f"/t/{tenant.slug}/roles/viewer", data={"name": "Mine"}, follow_redirects=True)
    assert "Built-in roles cannot be changed." in builtin.get_data(as_text=True)
    assert [r.key for r in roles.list_roles(tenant).items] == ["owner", "admin", "member", "viewer"]


def test_a_viewer_sees_roles_without_forms_in_chinese(login, tenant):
    client = login(make_member(tenant, "viewer"))
    page = client.get(f"/t/{tenant.slug}/roles", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert 'data-testid="role-form"' not in page
    assert "内置" in page  # the built-in badge, translated
    assert client.post(f"/t/{tenant.slug}/groups", data={"key": "mine", "name": "Mine"}).status_code == 403
