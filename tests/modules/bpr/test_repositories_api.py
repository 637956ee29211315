"""The REST API of binary repositories: create, read, change, delete, files, packages, yank."""

from __future__ import annotations

from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.factories import database_state, make_member, make_tenant, make_user
from tests.modules.bpr.conftest import put_package

BASE = "/api/v1/tenants/{t}/bpr/repositories"


def test_an_admin_creates_a_package_index_and_finds_it_in_the_list(api_as, tenant, admin):
    api = api_as(admin)
    created = api.post(
        BASE.format(t=tenant.slug),
        json={"name": "pypi-internal", "kind": "pypi", "keep_last": 3, "visibility": "public"},
    )
    assert created.status_code == 201, created.json
    assert created.json["url"].endswith(f"/pypi/{tenant.slug}/pypi-internal/simple/")
    assert created.json["immutable"] is True and created.json["keep_last"] == 3
    listed = api.get(BASE.format(t=tenant.slug))
    assert [r["name"] for r in listed.json] == ["pypi-internal"]
    assert "X-Pagination" in listed.headers
    entry = db.session.query(AuditEntry).filter_by(action="bpr.repository.created").one()
    assert entry.target == "pypi-internal" and entry.actor_email == admin.email


def test_bad_repository_input_is_refused_and_changes_nothing(api_as, tenant, admin):
    api = api_as(admin)
    before = database_state()
    for body in (
        {"name": "Bad Name", "kind": "pypi"},
        {"name": "ok", "kind": "maven"},
        {"name": "ok", "kind": "generic", "keep_last": 0},
        {"name": "../x", "kind": "generic"},
        {"kind": "generic"},
        {"name": "ok", "kind": "generic", "keep_last": "3"},
    ):
        response = api.post(BASE.format(t=tenant.slug), json=body)
        assert response.status_code == 422, (body, response.json)
        assert response.mimetype == "application/problem+json"
    assert database_state() == before


def test_a_taken_name_is_409(api_as, tenant, admin, make_repo):
    make_repo("dist")
    response = api_as(admin).post(BASE.format(t=tenant.slug), json={"name": "dist", "kind": "pypi"})
    assert response.status_code == 409


def test_repositories_quota_refuses_the_next_one(api_as, tenant, admin, make_repo):
    from taiji.platform import quotas

    make_repo("one")
    quotas.set_limit(tenant, "bpr.repositories", 1)
    db.session.commit()
    response = api_as(admin).post(BASE.format(t=tenant.slug), json={"name": "two", "kind": "generic"})
    assert response.status_code == 409 and "bpr.repositories" in response.json["detail"]


def test_patch_needs_if_match_and_changes_the_rules(api_as, tenant, admin, make_repo):
    make_repo("files")
    api = api_as(admin)
    path = BASE.format(t=tenant.slug) + "/files"
    assert api.patch(path, json={"immutable": True}).status_code == 428
    etag = api.get(path).headers["ETag"]
    changed = api.patch(path, json={"immutable": True, "max_age_days": 30}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json["immutable"] and changed.json["max_age_days"] == 30


def test_a_package_index_cannot_be_made_mutable(api_as, tenant, admin, make_repo):
    make_repo("py", "pypi")
    api = api_as(admin)
    path = BASE.format(t=tenant.slug) + "/py"
    response = api.patch(path, json={"immutable": False}, headers={"If-Match": api.get(path).headers["ETag"]})
    assert response.status_code == 422


def test_members_upload_but_only_admins_manage(api_as, tenant, make_repo):
    make_repo("files")
    member = api_as(make_member(tenant, "member"))
    viewer = api_as(make_member(tenant, "viewer"))
    assert member.post(BASE.format(t=tenant.slug), json={"name": "x", "kind": "generic"}).status_code == 403
    assert viewer.get(BASE.format(t=tenant.slug) + "/files/files").status_code == 200
    assert member.put(f"/bpr/{tenant.slug}/files/a.txt", data=b"hello").status_code == 201
    assert viewer.put(f"/bpr/{tenant.slug}/files/b.txt", data=b"hello").status_code == 403
    assert member.delete(f"/bpr/{tenant.slug}/files/a.txt").status_code == 403


def test_another_tenants_repository_is_404_and_anonymous_is_401(api_as, anon_api, tenant, make_repo):
    make_repo("files")
    stranger = make_user()
    make_tenant(owner=stranger)
    other = api_as(stranger)
    assert other.get(BASE.format(t=tenant.slug) + "/files").status_code == 404
    assert anon_api.get(BASE.format(t=tenant.slug) + "/files").status_code == 401


def test_packages_list_versions_newest_first_and_files_are_searchable(api_as, tenant, admin, make_repo):
    repository = make_repo("py", "pypi")
    for version in ("1.0.0", "1.10.0", "1.2.0"):
        put_package(tenant, repository, f"Demo_Lib-{version}-py3-none-any.whl", version.encode())
    put_package(tenant, repository, "other-0.1.tar.gz")
    api = api_as(admin)
    packages = api.get(BASE.format(t=tenant.slug) + "/py/packages").json
    assert packages[0]["name"] == "demo-lib"
    assert packages[0]["versions"] == ["1.10.0", "1.2.0", "1.0.0"] and packages[0]["latest"] == "1.10.0"
    found = api.get(BASE.format(t=tenant.slug) + "/py/files?q=1.2").json
    assert [f["filename"] for f in found] == ["Demo_Lib-1.2.0-py3-none-any.whl"]
    assert len(found[0]["sha256"]) == 64 and found[0]["url"].endswith(
        "/files/demo-lib/Demo_Lib-1.2.0-py3-none-any.whl"
    )


def test_yank_and_unyank_a_file_with_a_reason(api_as, tenant, admin, make_repo):
    repository = make_repo("py", "pypi")
    row = put_package(tenant, repository, "demo-1.0-py3-none-any.whl")
    api = api_as(admin)
    path = BASE.format(t=tenant.slug) + f"/py/files/{row.id}/yank"
    yanked = api.post(path, json={"reason": "broken on 3.12"})
    assert (
        yanked.status_code == 200 and yanked.json["yanked"] and yanked.json["yank_reason"] == "broken on 3.12"
    )
    assert api.post(path, json={"yanked": False}).json["yanked"] is False
    actions = [e.action for e in db.session.query(AuditEntry).filter(AuditEntry.action.like("bpr.file.%"))]
    assert "bpr.file.yanked" in actions and "bpr.file.unyanked" in actions


def test_deleting_a_file_frees_its_space_and_its_blob(api_as, tenant, admin, make_repo, app):
    from taiji.modules.bpr.storage import storage

    repository = make_repo("py", "pypi")
    row = put_package(tenant, repository, "demo-1.0-py3-none-any.whl", b"x" * 1000)
    blob = storage().local_path(row.storage_key)
    assert blob.exists()
    api = api_as(admin)
    assert api.delete(BASE.format(t=tenant.slug) + f"/py/files/{row.id}").status_code == 204
    after = api.get(BASE.format(t=tenant.slug) + "/py").json
    assert after["size_bytes"] == 0 and after["file_count"] == 0
    assert not blob.exists()


def test_deleting_a_repository_needs_if_match_and_removes_its_files(api_as, tenant, admin, make_repo):
    from taiji.modules.bpr.storage import storage

    repository = make_repo("py", "pypi")
    row = put_package(tenant, repository, "demo-1.0-py3-none-any.whl", b"y" * 10)
    api = api_as(admin)
    path = BASE.format(t=tenant.slug) + "/py"
    assert api.delete(path, headers={"If-Match": api.get(path).headers["ETag"]}).status_code == 204
    assert api.get(path).status_code == 404
    assert not storage().local_path(row.storage_key).exists()
