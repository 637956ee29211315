"""REST API of repositories: create, list, read, change, delete and restore; quotas; audit."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from taiji.modules.vcs import services
from taiji.platform import quotas
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.factories import database_state, make_member, make_tenant, make_user, system_principal

from .gitseed import seed_commits


def base(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/repositories"


def create(tenant, name="app", **data):
    repo = services.create_repository(tenant, {"name": name, **data}, actor=system_principal())
    db.session.commit()
    return repo


def test_creating_a_hosted_repository(api_as, admin, tenant):
    response = api_as(admin).post(base(tenant), json={"name": "shop-api", "description": "The shop's API"})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["name"] == "shop-api" and body["kind"] == "hosted" and body["visibility"] == "private"
    assert body["default_branch"] == "main"
    assert body["clone_url"] == f"http://taiji.test/git/{tenant.slug}/shop-api.git"
    path = services.local_git_dir(services.get_repository(tenant, "shop-api"))
    assert (path / "HEAD").read_text().strip() == "ref: refs/heads/main"
    assert (path / "hooks" / "pre-receive").exists()
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "vcs.repository.created")
                               .where(AuditEntry.tenant_id == tenant.id)).scalar_one()
    assert entry.target == "shop-api" and entry.actor_email == admin.email


def test_listing_is_paginated_and_filtered(api_as, admin, tenant):
    for name in ("alpha", "beta", "gamma"):
        create(tenant, name)
    api = api_as(admin)
    page = api.get(base(tenant) + "?page_size=2")
    assert [r["name"] for r in page.json] == ["alpha", "beta"]
    assert '"total": 3' in page.headers["X-Pagination"]
    assert [r["name"] for r in api.get(base(tenant) + "?name=amm").json] == ["gamma"]
    assert api.get(base(tenant) + "?kind=external").json == []


def test_anonymous_is_401_and_another_tenant_is_404(anon_api, api_as, tenant):
    create(tenant)
    assert anon_api.get(base(tenant)).status_code == 401
    assert anon_api.post(base(tenant), json={"name": "x"}).status_code == 401
    stranger = make_user()
    make_tenant(owner=stranger)
    assert api_as(stranger).get(base(tenant) + "/app").status_code == 404
    assert api_as(stranger).post(base(tenant), json={"name": "x"}).status_code == 404


def test_viewers_cannot_create_and_members_cannot_make_public(api_as, tenant):
    viewer = make_member(tenant, "viewer")
    response = api_as(viewer).post(base(tenant), json={"name": "x"})
    assert response.status_code == 403 and "vcs:repository:write" in response.json["detail"]
    member = make_member(tenant, "member")
    response = api_as(member).post(base(tenant), json={"name": "x", "visibility": "public"})
    assert response.status_code == 403 and "vcs:repository:admin" in response.json["detail"]
    assert api_as(member).post(base(tenant), json={"name": "x"}).status_code == 201


def test_bad_names_are_refused_and_nothing_changes(api_as, admin, tenant):
    create(tenant, "taken")
    api = api_as(admin)
    before = database_state()
    for name in ("../etc", "..", "a/b", "Upper", "x.git", "-dash", ".hidden", "a" * 64, "", "a..b", "%2e%2e",
                 "taken"):
        response = api.post(base(tenant), json={"name": name})
        # A taken name is a conflict, as every other taken name (test_taken_name.py).
        assert response.status_code == (409 if name == "taken" else 422), (name, response.json)
        assert response.mimetype == "application/problem+json"
    assert api.post(base(tenant), json={"name": "ok", "visibility": "secret"}).status_code == 422
    assert api.post(base(tenant), json={"name": "ok", "component": "nope/none"}).status_code == 422
    assert database_state() == before
    assert not (services.git_root() / tenant.slug / "..git").exists()


def test_the_repository_count_quota(api_as, admin, tenant):
    quotas.set_limit(tenant, services.REPOSITORIES_METER, 1)
    db.session.commit()
    api = api_as(admin)
    assert api.post(base(tenant), json={"name": "one"}).status_code == 201
    response = api.post(base(tenant), json={"name": "two"})
    assert response.status_code == 409 and "vcs.repositories" in response.json["detail"]


def test_linking_an_spm_component(api_as, admin, tenant):
    from taiji.modules.spm import services as spm

    product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
    spm.create_component(tenant, product, {"name": "cart", "layer": "base"})
    db.session.commit()
    response = api_as(admin).post(base(tenant), json={"name": "cart", "component": "shop/cart"})
    assert response.status_code == 201 and response.json["component"] == "shop/cart"


def test_reading_and_changing_a_repository(api_as, admin, tenant):
    repo = create(tenant)
    seed_commits(services.local_git_dir(repo), 1, branch="develop")
    api = api_as(admin)
    got = api.get(base(tenant) + "/app")
    assert got.status_code == 200 and got.json["size_bytes"] > 0
    assert api.patch(base(tenant) + "/app", json={"description": "x"}).status_code == 428
    change = {"description": "Now described", "default_branch": "develop", "visibility": "public"}
    changed = api.patch(base(tenant) + "/app", json=change,
                        headers={"If-Match": got.headers["ETag"]})
    assert changed.status_code == 200, changed.json
    assert changed.json["description"] == "Now described" and changed.json["visibility"] == "public"
    assert (services.local_git_dir(repo) / "HEAD").read_text().strip() == "ref: refs/heads/develop"
    stale = api.patch(base(tenant) + "/app", json={"description": "y"},
                      headers={"If-Match": got.headers["ETag"]})
    assert stale.status_code == 412
    etag = api.get(base(tenant) + "/app").headers["ETag"]
    bad = api.patch(base(tenant) + "/app", json={"default_branch": "no..dots"}, headers={"If-Match": etag})
    assert bad.status_code == 422


def test_members_cannot_change_visibility(api_as, tenant):
    create(tenant)
    member = make_member(tenant, "member")
    api = api_as(member)
    etag = api.get(base(tenant) + "/app").headers["ETag"]
    response = api.patch(base(tenant) + "/app", json={"visibility": "public"}, headers={"If-Match": etag})
    assert response.status_code == 403


def test_delete_then_restore_by_a_platform_administrator(api_as, admin, tenant):
    create(tenant)
    owner = make_member(tenant, "owner")
    api = api_as(owner)
    etag = api.get(base(tenant) + "/app").headers["ETag"]
    assert api.delete(base(tenant) + "/app", headers={"If-Match": etag}).status_code == 204
    assert api.get(base(tenant) + "/app").status_code == 404
    assert api.get(base(tenant)).json == []
    assert [r["name"] for r in api.get(base(tenant) + "?deleted=true").json] == ["app"]
    refused = api.post(base(tenant) + "/app/restore")
    assert refused.status_code == 403 and "platform administrator" in refused.json["detail"]
    restored = api_as(admin).post(base(tenant) + "/app/restore")
    assert restored.status_code == 200 and restored.json["deleted_at"] is None
    assert api.get(base(tenant) + "/app").status_code == 200
    assert api_as(admin).post(base(tenant) + "/nothing/restore").status_code == 404


def test_a_deleted_name_can_be_reused_and_restoring_then_conflicts(api_as, admin, tenant):
    old = create(tenant)
    services.delete_repository(tenant, old)
    db.session.commit()
    assert api_as(admin).post(base(tenant), json={"name": "app"}).status_code == 201
    response = api_as(admin).post(base(tenant) + "/app/restore")
    assert response.status_code in (404, 422)


def test_members_cannot_delete(api_as, tenant):
    create(tenant)
    api = api_as(make_member(tenant, "member"))
    etag = api.get(base(tenant) + "/app").headers["ETag"]
    assert api.delete(base(tenant) + "/app", headers={"If-Match": etag}).status_code == 403


def test_purge_removes_rows_and_files_after_seven_days(tenant):
    repo = create(tenant, "old")
    path = services.local_git_dir(repo)
    services.delete_repository(tenant, repo)
    db.session.commit()
    assert services.purge_due_repositories() == 0 and path.exists()
    repo.deleted_at = repo.deleted_at - dt.timedelta(days=8)
    db.session.commit()
    assert services.purge_due_repositories() == 1
    db.session.commit()
    assert services.find_repository(tenant, "old", include_deleted=True) is None
    assert not path.exists()
