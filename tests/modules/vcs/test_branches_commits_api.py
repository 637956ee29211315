"""REST API of protected branches, the commit log and refs; the services other modules call."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.modules.vcs import services
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent
from tests.factories import database_state, make_member, make_tenant, make_user, system_principal

from .gitseed import seed_commits, tag


def base(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/repositories/app"


def create(tenant, name="app"):
    repo = services.create_repository(tenant, {"name": name}, actor=system_principal())
    db.session.commit()
    return repo


def test_protected_branch_lifecycle(api_as, admin, tenant):
    create(tenant)
    api = api_as(admin)
    made = api.post(base(tenant) + "/protected-branches",
                    json={"pattern": "release/*", "push_roles": ["owner", "owner", "admin"]})
    assert made.status_code == 201, made.json
    rule = made.json
    assert rule["push_roles"] == ["admin", "owner"] and not rule["allow_force_push"]
    listed = api.get(base(tenant) + "/protected-branches")
    assert [r["pattern"] for r in listed.json] == ["release/*"]
    assert '"total": 1' in listed.headers["X-Pagination"]
    path = f"{base(tenant)}/protected-branches/{rule['id']}"
    assert api.get(path).json["pattern"] == "release/*"
    changed = api.patch(path, json={"allow_deletion": True, "push_roles": []})
    assert changed.status_code == 200 and changed.json["allow_deletion"] and changed.json["push_roles"] == []
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


def test_protected_branch_bad_input_changes_nothing(api_as, admin, tenant):
    create(tenant)
    api = api_as(admin)
    assert api.post(base(tenant) + "/protected-branches", json={"pattern": "main"}).status_code == 201
    before = database_state()
    for body in ({"pattern": "main"}, {"pattern": ""}, {"pattern": "refs/heads/main"}, {"pattern": "a b"},
                 {"pattern": "../x"}, {"pattern": "x", "push_roles": [""]},
                 {"pattern": "x", "allow_deletion": "maybe"},
                 {}):
        response = api.post(base(tenant) + "/protected-branches", json=body)
        assert response.status_code == 422, (body, response.json)
    assert database_state() == before


def test_protected_branch_permissions(api_as, anon_api, tenant):
    repo = create(tenant)
    rule = services.protect(tenant, repo, {"pattern": "main"})
    db.session.commit()
    member = api_as(make_member(tenant, "member"))
    assert member.get(base(tenant) + "/protected-branches").status_code == 200
    assert member.post(base(tenant) + "/protected-branches", json={"pattern": "x"}).status_code == 403
    assert member.delete(f"{base(tenant)}/protected-branches/{rule.id}").status_code == 403
    assert anon_api.get(base(tenant) + "/protected-branches").status_code == 401
    stranger = make_user()
    other = make_tenant(owner=stranger)
    assert api_as(stranger).get(base(tenant) + "/protected-branches").status_code == 404
    # A rule id of tenant A's repository under tenant B's own repository of the same name is 404.
    create(other)
    assert api_as(stranger).get(f"{base(other)}/protected-branches/{rule.id}").status_code == 404


def test_the_commit_log_is_paginated_newest_first(api_as, admin, tenant):
    repo = create(tenant)
    api = api_as(admin)
    assert api.get(base(tenant) + "/commits").json == []
    shas = seed_commits(services.local_git_dir(repo), 25)
    first = api.get(base(tenant) + "/commits?page_size=10")
    assert [c["id"] for c in first.json] == shas[::-1][:10]
    assert '"total": 25' in first.headers["X-Pagination"]
    third = api.get(base(tenant) + "/commits?page_size=10&page=3")
    assert [c["id"] for c in third.json] == shas[::-1][20:]
    assert third.json[-1]["message"].strip() == "Commit 0"
    assert third.json[-1]["author"] == {"name": "Ada", "email": "ada@example.com"}
    at = api.get(base(tenant) + f"/commits?ref={shas[4]}")
    assert len(at.json) == 5
    for ref in ("nope", "--output=/tmp/x", "a..b"):
        assert api.get(base(tenant) + f"/commits?ref={ref}").status_code == 422


def test_refs_lists_branches_and_tags(api_as, admin, tenant):
    repo = create(tenant)
    shas = seed_commits(services.local_git_dir(repo), 2)
    seed_commits(services.local_git_dir(repo), 1, branch="feature")
    tag(services.local_git_dir(repo), "v1.0", shas[0])
    body = api_as(admin).get(base(tenant) + "/refs").json
    assert {b["name"]: b["default"] for b in body["branches"]} == {"main": True, "feature": False}
    assert body["tags"] == [{"name": "v1.0", "commit": shas[0]}]


def test_services_read_files_resolve_refs_and_give_a_clone_url(tenant):
    repo = create(tenant)
    path = services.local_git_dir(repo)
    shas = seed_commits(path, 2, files={"taiji.yml": "stages: []\n"})
    assert services.resolve_ref(repo, "main") == shas[-1]
    assert services.resolve_ref(repo, "main~1") == shas[0]
    assert services.resolve_ref(repo, "missing") is None and services.resolve_ref(repo, "-x") is None
    assert services.read_file(repo, "main", "taiji.yml") == b"stages: []\n"
    assert services.read_file(repo, shas[0], "counter.txt") == b"0\n"
    assert services.read_file(repo, "main", "nope.txt") is None
    assert services.read_file(repo, "main", "../HEAD") is None
    assert services.clone_url(repo) == str(path)
    assert services.get_repository(tenant, "app") is repo


def test_publish_push_is_once_per_key(tenant):
    repo = create(tenant)
    args = (repo, "refs/heads/main", "0" * 40, "a" * 40, {"id": 1, "email": "a@b.c", "name": "A"}, [])
    assert services.publish_push(*args, key="delivery-1:refs/heads/main") is True
    assert services.publish_push(*args, key="delivery-1:refs/heads/main") is False
    db.session.commit()
    stmt = sa.select(OutboxEvent).where(OutboxEvent.name == "vcs.push", OutboxEvent.tenant_id == tenant.id)
    rows = db.session.execute(stmt).scalars().all()
    assert len(rows) == 1
    assert rows[0].payload["repository"] == "app" and rows[0].payload["tenant"] == tenant.slug
