"""Groups: a member's access is the union of their own bindings and their groups' bindings."""

from __future__ import annotations

from taiji.platform import audit
from tests.factories import make_member, make_user


def _url(tenant, rest=""):
    return f"/api/v1/tenants/{tenant.slug}{rest}"


def _auditors(api, tenant):
    api.post(
        _url(tenant, "/roles"), json={"key": "auditor", "name": "Auditor", "permissions": ["tm:audit:read"]}
    )


def test_a_group_bound_to_a_role_gives_it_to_every_member_of_the_group(api_as, tenant):
    owner_api = api_as(make_member(tenant, "owner"))
    alice, bob = make_member(tenant, "viewer"), make_member(tenant, "viewer")
    _auditors(owner_api, tenant)
    made = owner_api.post(_url(tenant, "/groups"), json={"key": "security", "name": "Security team"})
    assert made.status_code == 201, made.json
    assert (
        owner_api.post(_url(tenant, "/groups/security/members"), json={"email": alice.email}).status_code
        == 201
    )
    bound = owner_api.post(_url(tenant, "/roles/auditor/bindings"), json={"group": "security"})
    assert bound.status_code == 201 and bound.json["group"] == "security"

    assert api_as(alice).get(_url(tenant, "/audit")).status_code == 200
    assert api_as(bob).get(_url(tenant, "/audit")).status_code == 403

    members = owner_api.get(_url(tenant, "/groups/security/members"))
    assert [m["email"] for m in members.json] == [alice.email]
    assert owner_api.delete(_url(tenant, f"/groups/security/members/{alice.id}")).status_code == 204
    assert api_as(alice).get(_url(tenant, "/audit")).status_code == 403
    actions = {e.action for e in audit.query(tenant=tenant, action="iam.group").items}
    assert {"iam.group.created", "iam.group.member_added", "iam.group.member_removed"} <= actions


def test_own_and_group_bindings_add_up(api_as, tenant):
    owner_api = api_as(make_member(tenant, "owner"))
    carol = make_member(tenant, "viewer")
    _auditors(owner_api, tenant)
    owner_api.post(
        _url(tenant, "/roles"), json={"key": "inviter", "name": "Inviter", "permissions": ["tm:member:write"]}
    )
    owner_api.post(_url(tenant, "/groups"), json={"key": "ops", "name": "Ops"})
    owner_api.post(_url(tenant, "/groups/ops/members"), json={"email": carol.email})
    owner_api.post(_url(tenant, "/roles/auditor/bindings"), json={"group": "ops"})
    owner_api.post(_url(tenant, "/roles/inviter/bindings"), json={"user_email": carol.email})
    api = api_as(carol)
    assert api.get(_url(tenant, "/audit")).status_code == 200
    assert api.post(_url(tenant, "/invitations"), json={"email": "new@example.com"}).status_code == 201
    # Deleting the group takes away only what the group gave.
    assert owner_api.delete(_url(tenant, "/groups/ops")).status_code == 204
    assert api.get(_url(tenant, "/audit")).status_code == 403
    assert api.post(_url(tenant, "/invitations"), json={"email": "new2@example.com"}).status_code == 201


def test_only_members_of_the_tenant_join_its_groups(api_as, tenant):
    owner_api = api_as(make_member(tenant, "owner"))
    owner_api.post(_url(tenant, "/groups"), json={"key": "ops", "name": "Ops"})
    stranger = make_user()
    response = owner_api.post(_url(tenant, "/groups/ops/members"), json={"email": stranger.email})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert owner_api.get(_url(tenant, "/groups/ops/members")).json == []
    # A group bound to a role never makes a stranger a member.
    assert api_as(stranger).get(_url(tenant)).status_code == 404


def test_groups_list_paginates_and_validates(api_as, tenant):
    api = api_as(make_member(tenant, "owner"))
    for i in range(3):
        assert (
            api.post(_url(tenant, "/groups"), json={"key": f"team-{i}", "name": f"Team {i}"}).status_code
            == 201
        )
    page = api.get(_url(tenant, "/groups?page_size=2"))
    assert len(page.json) == 2 and '"total": 3' in page.headers["X-Pagination"]
    assert api.post(_url(tenant, "/groups"), json={"key": "team-0", "name": "Again"}).status_code == 409
    assert api.post(_url(tenant, "/groups"), json={"key": "x", "name": "Short"}).status_code == 422
    renamed = api.patch(_url(tenant, "/groups/team-1"), json={"name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json["name"] == "Renamed"
    assert api.get(_url(tenant, "/groups/nope")).status_code == 404


def test_a_viewer_reads_groups_but_cannot_change_them(api_as, tenant):
    api = api_as(make_member(tenant, "viewer"))
    assert api.get(_url(tenant, "/groups")).status_code == 200
    assert api.post(_url(tenant, "/groups"), json={"key": "mine", "name": "Mine"}).status_code == 403


def test_access_with_groups_and_custom_roles_is_one_query(tenant, app):
    """resolve_access runs on every request: groups and custom roles must not add round trips."""
    import sqlalchemy as sa

    from taiji.modules.iam import services as iam
    from taiji.modules.iam.roles import services as roles
    from taiji.platform.auth import Principal
    from taiji.platform.db import db

    user = make_member(tenant, "viewer")
    roles.create_role(tenant, {"key": "auditor", "name": "Auditor", "permissions": ["tm:audit:read"]})
    group = roles.create_group(tenant, {"key": "ops", "name": "Ops"})
    roles.add_group_member(tenant, group, user.email)
    roles.bind(tenant, "auditor", group="ops")
    db.session.flush()
    principal = Principal(user_id=user.id, email=user.email, name=user.name, is_admin=False, via="test")
    statements = []

    def count(*args):
        statements.append(args[2])

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        access = iam.resolve_access(principal, tenant)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert "tm:audit:read" in access.permissions and "tm:member:write" not in access.permissions
    assert access.roles == ("viewer", "auditor")
    assert len(statements) == 1, statements


def test_leaving_the_tenant_drops_extra_bindings_so_rejoining_starts_clean(api_as, tenant, admin):
    owner_api = api_as(make_member(tenant, "owner"))
    dave = make_member(tenant, "viewer")
    _auditors(owner_api, tenant)
    owner_api.post(_url(tenant, "/groups"), json={"key": "qa", "name": "QA"})
    owner_api.post(_url(tenant, "/groups/qa/members"), json={"email": dave.email})
    owner_api.post(_url(tenant, "/roles/auditor/bindings"), json={"user_email": dave.email})
    assert api_as(dave).get(_url(tenant, "/audit")).status_code == 200

    assert owner_api.delete(_url(tenant, f"/members/{dave.id}")).status_code == 204
    invited = owner_api.post(_url(tenant, "/members"), json={"email": dave.email, "role": "viewer"})
    assert invited.status_code == 202
    [waiting] = api_as(dave).get("/api/v1/me/invitations").json
    assert api_as(dave).post(f"/api/v1/me/invitations/{waiting['id']}/accept").status_code == 200

    assert api_as(dave).get(_url(tenant, "/audit")).status_code == 403
    assert owner_api.get(_url(tenant, "/groups/qa/members")).json == []
