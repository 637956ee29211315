"""/api/v1/tenants and /api/v1/tenants/<tenant>: listing, creating, renaming, suspending."""

from __future__ import annotations

import pytest

from taiji.modules.tm import services
from tests.factories import database_state, make_member, make_tenant, make_user


def patch_tenant(api, slug, body, etag=None):
    etag = etag or api.get(f"/api/v1/tenants/{slug}").headers.get("ETag", '"none"')
    return api.patch(f"/api/v1/tenants/{slug}", json=body, headers={"If-Match": etag})


def ready(api):
    """The client after one call: a token's first use records itself, which is not the change under test."""
    api.get("/api/v1/me")
    return api


# -- /tenants ---------------------------------------------------------------------------------


def test_member_lists_only_own_tenants(api_as, tenant):
    make_tenant()
    member = make_member(tenant, "viewer")
    response = api_as(member).get("/api/v1/tenants")
    assert response.status_code == 200
    assert [t["slug"] for t in response.json] == [tenant.slug]


def test_administrator_lists_every_tenant_and_filters(api_as, admin, tenant):
    other = make_tenant(name="Other Shop")
    api = api_as(admin)
    slugs = {t["slug"] for t in api.get("/api/v1/tenants").json}
    assert {tenant.slug, other.slug} <= slugs
    assert [t["slug"] for t in api.get("/api/v1/tenants?q=other shop").json] == [other.slug]


def test_administrator_creates_tenant_and_becomes_owner(api_as, admin):
    response = api_as(admin).post("/api/v1/tenants", json={"slug": "shop", "name": "Shop"})
    assert response.status_code == 201
    assert response.json["slug"] == "shop" and response.json["status"] == "active"
    created = services.get_tenant("shop")
    assert services.get_member(created, admin.id).role == "owner"


def test_tenant_created_for_another_owner(api_as, admin):
    owner = make_user()
    response = api_as(admin).post(
        "/api/v1/tenants", json={"slug": "theirs", "name": "T", "owner_email": owner.email}
    )
    assert response.status_code == 201
    assert services.get_member(services.get_tenant("theirs"), owner.id).role == "owner"


def test_plain_user_cannot_create_tenants(api_as):
    user = make_user()
    before = services.count_tenants()
    response = api_as(user).post("/api/v1/tenants", json={"slug": "mine", "name": "Mine"})
    assert response.status_code == 403
    assert services.count_tenants() == before


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"slug": "Bad Slug", "name": "x"}, 422, "slug"),
        ({"slug": "-dash", "name": "x"}, 422, "slug"),
        ({"slug": "api", "name": "x"}, 422, "slug"),
        ({"slug": "ok", "name": "   "}, 422, "name"),
        ({"slug": "ok"}, 422, "name"),
        ({"slug": "ok", "name": "x", "owner_email": "nobody@example.com"}, 422, "owner_email"),
        ({"slug": "ok", "name": "x", "extra": 1}, 422, "extra"),
    ],
)
def test_bad_tenant_input_is_rejected_and_changes_nothing(api_as, admin, body, status, field):
    api = ready(api_as(admin))
    before = database_state()
    response = api.post("/api/v1/tenants", json=body)
    assert response.status_code == status
    assert field in response.json["errors"]["json"]
    assert database_state() == before


def test_taken_slug_is_409(api_as, admin, tenant):
    api = ready(api_as(admin))
    before = database_state()
    response = api.post("/api/v1/tenants", json={"slug": tenant.slug, "name": "Again"})
    assert response.status_code == 409
    assert response.json["errors"]["json"]["slug"]
    assert database_state() == before


# -- /tenants/<tenant> ------------------------------------------------------------------------


def test_member_reads_the_tenant(api_as, tenant):
    viewer = make_member(tenant, "viewer")
    response = api_as(viewer).get(f"/api/v1/tenants/{tenant.slug}")
    assert response.status_code == 200
    assert response.json["name"] == tenant.name


def test_unknown_tenant_is_404(api_as, admin):
    assert api_as(admin).get("/api/v1/tenants/no-such").status_code == 404


def test_tenant_admin_renames(api_as, tenant):
    tenant_admin = make_member(tenant, "admin")
    response = patch_tenant(api_as(tenant_admin), tenant.slug, {"name": "Renamed"})
    assert response.status_code == 200
    assert services.get_tenant(tenant.slug).name == "Renamed"


def test_member_cannot_rename(api_as, tenant):
    member = make_member(tenant, "member")
    response = patch_tenant(api_as(member), tenant.slug, {"name": "Mine now"})
    assert response.status_code == 403
    assert services.get_tenant(tenant.slug).name == tenant.name


def test_tenant_admin_cannot_change_the_slug(api_as, tenant):
    api = api_as(make_member(tenant, "admin"))
    etag = api.get(f"/api/v1/tenants/{tenant.slug}").headers["ETag"]
    before = database_state()
    response = patch_tenant(api, tenant.slug, {"slug": "renamed-slug"}, etag)
    assert response.status_code == 422
    assert "slug" in response.json["errors"]["json"]
    assert database_state() == before
    assert services.get_tenant(tenant.slug) is not None


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 101}, {"status": "deleted"}, {"name": 5}])
def test_bad_patch_changes_nothing(api_as, admin, tenant, body):
    api = api_as(admin)
    etag = api.get(f"/api/v1/tenants/{tenant.slug}").headers["ETag"]
    before = database_state()
    response = patch_tenant(api, tenant.slug, body, etag)
    assert response.status_code == 422
    assert database_state() == before


def test_tenant_owner_cannot_suspend(api_as, tenant):
    owner = make_member(tenant, "owner")
    response = patch_tenant(api_as(owner), tenant.slug, {"status": "suspended"})
    assert response.status_code == 403
    assert services.get_tenant(tenant.slug).is_active


def test_suspended_tenant_locks_members_out_until_reactivated(api_as, admin, tenant):
    owner = make_member(tenant, "owner")
    owner_api = api_as(owner)
    admin_api = api_as(admin)
    assert patch_tenant(admin_api, tenant.slug, {"status": "suspended"}).status_code == 200

    locked = owner_api.get(f"/api/v1/tenants/{tenant.slug}/members")
    assert locked.status_code == 403
    assert "suspended" in locked.json["detail"]
    # Still listed, marked suspended, so the member can tell what happened.
    assert owner_api.get("/api/v1/tenants").json[0]["status"] == "suspended"
    assert admin_api.get(f"/api/v1/tenants/{tenant.slug}/members").status_code == 200

    assert patch_tenant(admin_api, tenant.slug, {"status": "active"}).status_code == 200
    assert owner_api.get(f"/api/v1/tenants/{tenant.slug}/members").status_code == 200


def test_owner_requires_mfa_and_members_without_it_are_sent_to_enrol(api_as, tenant, admin, login, client):
    from tests.factories import make_member

    owner = make_member(tenant, "owner")
    response = patch_tenant(api_as(owner), tenant.slug, {"mfa_required": True})
    assert response.status_code == 200 and response.json["mfa_required"] is True
    member = make_member(tenant, "member")
    assert patch_tenant(api_as(member), tenant.slug, {"mfa_required": False}).status_code == 403
    login(member)
    opened = client.get(f"/t/{tenant.slug}/members")
    assert opened.status_code == 302 and "/profile/mfa" in opened.headers["Location"]
    off = patch_tenant(api_as(owner), tenant.slug, {"mfa_required": False})
    assert off.status_code == 200 and off.json["mfa_required"] is False
    assert client.get(f"/t/{tenant.slug}/members").status_code == 200
