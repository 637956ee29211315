"""Merge requests through the REST API, merged by Taiji with the real ``git`` in the bare repository;
commit statuses learnt from CI's pipeline events."""

from __future__ import annotations

import subprocess

import pytest
import sqlalchemy as sa

from taiji.modules.vcs import services
from taiji.modules.vcs.events import on_pipeline
from taiji.platform import events
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent
from tests.factories import database_state, make_member, make_tenant, make_user, system_principal

from .fixtures.gitdata import commit_files


def git(repo, *args) -> str:
    return subprocess.run(["git", f"--git-dir={services.local_git_dir(repo)}", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def shop(tenant):
    """main: two commits; feature: one more commit on the first; main moved on meanwhile."""
    repo = services.create_repository(tenant, {"name": "shop"}, actor=system_principal())
    db.session.commit()
    git_dir = services.local_git_dir(repo)
    first = commit_files(git_dir, {"README.md": "# Shop\n", "app.py": "A = 1\nB = 2\nC = 3\n"}, "First")
    feature = commit_files(git_dir, {"login.py": "def login():\n    return True\n"}, "Add login",
                           branch="feature", parents=[first])
    main = commit_files(git_dir, {"docs.md": "Docs\n"}, "Add docs")
    return {"repo": repo, "first": first, "feature": feature, "main": main, "git_dir": git_dir,
            "base": f"/api/v1/tenants/{tenant.slug}/repositories/shop/merge-requests"}


@pytest.fixture
def author(tenant):
    return make_member(tenant, "member", email="author@example.com", name="Author")


@pytest.fixture
def reviewer(tenant):
    return make_member(tenant, "member", email="reviewer@example.com", name="Reviewer")


def open_mr(api, shop, **extra):
    made = api.post(shop["base"], json={"title": "Login", "description": "Adds **login**",
                                        "source_branch": "feature", "target_branch": "main", **extra})
    assert made.status_code == 201, made.json
    return made.json


def test_open_list_update_close_reopen_with_numbers_per_repository(api_as, author, shop, tenant):
    api = api_as(author)
    first = open_mr(api, shop)
    assert first["number"] == 1 and first["reference"] == "!1" and first["state"] == "open"
    assert first["author_name"] == "Author" and first["head_sha"] == shop["feature"]
    commit_files(shop["git_dir"], {"x.txt": "x"}, "Other", branch="other", parents=[shop["first"]])
    second = open_mr(api, shop, source_branch="other", draft=True)
    assert second["number"] == 2 and second["draft"]
    # The same branches twice: refused while the first is open.
    again = api.post(shop["base"], json={"title": "Again", "source_branch": "feature"})
    assert again.status_code == 409
    listed = api.get(shop["base"] + "?page_size=1")
    assert [m["number"] for m in listed.json] == [2] and '"total": 2' in listed.headers["X-Pagination"]
    closed = api.patch(f"{shop['base']}/1", json={"state": "closed", "title": "Login page"})
    assert closed.status_code == 200 and closed.json["state"] == "closed"
    assert closed.json["title"] == "Login page"
    assert [m["number"] for m in api.get(shop["base"]).json] == [2]
    assert [m["number"] for m in api.get(shop["base"] + "?state=closed").json] == [1]
    assert api.patch(f"{shop['base']}/1", json={"state": "open"}).json["state"] == "open"
    names = [row.name for row in db.session.execute(sa.select(OutboxEvent).order_by(OutboxEvent.created_at))
             .scalars() if row.name.startswith("vcs.merge_request.")]
    assert names == ["vcs.merge_request.opened", "vcs.merge_request.opened", "vcs.merge_request.closed",
                     "vcs.merge_request.updated", "vcs.merge_request.reopened"]


def test_bad_input_is_a_problem_and_changes_nothing(api_as, author, shop):
    api = api_as(author)
    before = database_state()
    for body in ({"title": "x", "source_branch": "nope"}, {"title": "x", "source_branch": "main"},
                 {"title": "", "source_branch": "feature"}, {"title": "x", "source_branch": "feature",
                                                             "target_branch": "../etc"},
                 {"title": "x"}, {"title": "x", "source_branch": "feature", "draft": "maybe"}):
        answer = api.post(shop["base"], json=body)
        assert answer.status_code == 422, (body, answer.json)
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert database_state() == before
    assert api.get(shop["base"] + "/99").status_code == 404
    assert api.get(shop["base"] + "?state=weird").status_code == 422


def test_changes_commits_and_inline_threads(api_as, author, reviewer, shop):
    open_mr(api_as(author), shop)
    api = api_as(reviewer)
    changes = api.get(shop["base"] + "/1/changes").json
    assert [f["new_path"] for f in changes["files"]] == ["login.py"]  # not main's docs.md
    assert changes["merge_base"] == shop["first"]
    assert [c["sha"] for c in api.get(shop["base"] + "/1/commits").json] == [shop["feature"]]
    bad = api.post(shop["base"] + "/1/threads", json={"body": "hm", "path": "login.py", "line": 40})
    assert bad.status_code == 422
    bad = api.post(shop["base"] + "/1/threads", json={"body": "hm", "path": "docs.md", "line": 1})
    assert bad.status_code == 422
    inline = api.post(shop["base"] + "/1/threads",
                      json={"body": "Why *True*?", "path": "login.py", "line": 2, "side": "new"})
    assert inline.status_code == 201 and inline.json["commit_sha"] == shop["feature"]
    reply = api_as(author).post(shop["base"] + "/1/threads",
                                json={"body": "Stub", "reply_to": inline.json["id"]})
    assert reply.status_code == 201 and reply.json["reply_to_id"] == inline.json["id"]
    api.post(shop["base"] + "/1/threads", json={"body": "Looks fine overall"})
    threads = api.get(shop["base"] + "/1/threads").json
    assert [(t["inline"], len(t["notes"])) for t in threads] == [(True, 2), (False, 1)]
    resolved = api.post(f"{shop['base']}/1/threads/{reply.json['id']}/resolve", json={})
    assert resolved.status_code == 200 and resolved.json["id"] == inline.json["id"]
    assert resolved.json["resolved"]
    undone = api.post(f"{shop['base']}/1/threads/{inline.json['id']}/resolve", json={"resolved": False})
    assert not undone.json["resolved"]
    assert api.post(f"{shop['base']}/1/threads/999999/resolve", json={}).status_code == 404


def test_merge_commit_made_by_git(api_as, author, reviewer, shop):
    open_mr(api_as(author), shop)
    merged = api_as(reviewer).post(shop["base"] + "/1/merge", json={"method": "merge"})
    assert merged.status_code == 200, merged.json
    assert merged.json["state"] == "merged" and merged.json["merge_method"] == "merge"
    tip = git(shop["repo"], "rev-parse", "refs/heads/main")
    assert tip == merged.json["merge_sha"]
    assert git(shop["repo"], "log", "-1", "--format=%P", "main").split() == [shop["main"], shop["feature"]]
    assert "Merge branch 'feature' into 'main'" in git(shop["repo"], "log", "-1", "--format=%B", "main")
    assert git(shop["repo"], "log", "-1", "--format=%an", "main") == "Reviewer"
    assert git(shop["repo"], "show", "main:login.py").startswith("def login")
    pushes = [row.payload for row in db.session.execute(sa.select(OutboxEvent)).scalars()
              if row.name == "vcs.push"]
    assert pushes and pushes[-1]["before"] == shop["main"] and pushes[-1]["after"] == tip
    # Merged: the changes stay what was merged; merging again is refused.
    files = api_as(reviewer).get(shop["base"] + "/1/changes").json["files"]
    assert [f["new_path"] for f in files] == ["login.py"]
    assert api_as(reviewer).post(shop["base"] + "/1/merge", json={}).status_code == 409


def test_squash_makes_one_commit_on_the_target(api_as, author, shop):
    commit_files(shop["git_dir"], {"login.py": "def login():\n    return False\n"}, "Fix login",
                 branch="feature")
    open_mr(api_as(author), shop)
    merged = api_as(author).post(shop["base"] + "/1/merge", json={"method": "squash"})
    assert merged.status_code == 200, merged.json
    assert git(shop["repo"], "log", "-1", "--format=%P", "main").split() == [shop["main"]]
    assert git(shop["repo"], "log", "-1", "--format=%s", "main") == "Login"
    assert git(shop["repo"], "show", "main:login.py") == "def login():\n    return False"
    assert git(shop["repo"], "rev-list", "--count", "main") == "3"


def test_fast_forward_only_when_possible(api_as, author, shop):
    open_mr(api_as(author), shop)
    refused = api_as(author).post(shop["base"] + "/1/merge", json={"method": "ff"})
    assert refused.status_code == 409 and "fast-forward" in refused.json["detail"]
    assert git(shop["repo"], "rev-parse", "main") == shop["main"]
    # Rebased on main: now it fast-forwards.
    rebased = commit_files(shop["git_dir"], {"login.py": "def login():\n    return True\n"}, "Add login",
                           branch="feature", parents=[shop["main"]])
    merged = api_as(author).post(shop["base"] + "/1/merge", json={"method": "ff", "sha": rebased})
    assert merged.status_code == 200, merged.json
    assert git(shop["repo"], "rev-parse", "main") == rebased == merged.json["merge_sha"]


def test_conflicts_are_detected_and_nothing_merges(api_as, author, shop):
    commit_files(shop["git_dir"], {"app.py": "A = 1\nB = 'feature'\nC = 3\n"}, "Feature B", branch="feature")
    commit_files(shop["git_dir"], {"app.py": "A = 1\nB = 'main'\nC = 3\n"}, "Main B")
    tip = git(shop["repo"], "rev-parse", "main")
    open_mr(api_as(author), shop)
    status = api_as(author).get(shop["base"] + "/1/mergeability").json
    assert not status["mergeable"] and status["conflicts"] == ["app.py"]
    refused = api_as(author).post(shop["base"] + "/1/merge", json={"method": "merge"})
    assert refused.status_code == 409 and "conflict" in refused.json["detail"]
    assert git(shop["repo"], "rev-parse", "main") == tip
    assert api_as(author).get(shop["base"] + "/1").json["state"] == "open"


def test_a_target_that_moved_meanwhile_is_refused_whole(author, shop, tenant, monkeypatch):
    from taiji.modules.vcs.services import merge_requests as mrs
    from taiji.modules.vcs.services import merging

    mr = mrs.open_merge_request(tenant, shop["repo"], {"title": "t", "source_branch": "feature"}, actor=None)
    db.session.commit()
    real_check = merging.check

    def push_meanwhile(repo_dir, target, source):
        result = real_check(repo_dir, target, source)
        commit_files(shop["git_dir"], {"late.txt": "late"}, "Pushed meanwhile")
        return result

    monkeypatch.setattr(merging, "check", push_meanwhile)
    with pytest.raises(Exception) as caught:
        mrs.merge(tenant, shop["repo"], mr, method="merge", actor=system_principal())
    assert "moved while merging" in str(caught.value)
    db.session.rollback()
    assert git(shop["repo"], "log", "-1", "--format=%s", "main") == "Pushed meanwhile"
    assert mrs.get_merge_request(shop["repo"], 1).state == "open"


def test_approvals_count_others_from_allowed_roles_and_reset_on_push(api_as, admin, author, reviewer, shop,
                                                                     tenant):
    services.protect(tenant, shop["repo"], {"pattern": "main", "required_approvals": 1,
                                            "approval_roles": ["admin", "owner"],
                                            "reset_approvals_on_push": True})
    db.session.commit()
    open_mr(api_as(author), shop)
    own = api_as(author).post(shop["base"] + "/1/approval")
    assert own.status_code == 403
    member = api_as(reviewer).post(shop["base"] + "/1/approval")
    assert member.status_code == 403 and "admin, owner" in member.json["detail"]
    status = api_as(author).get(shop["base"] + "/1/mergeability").json
    assert not status["mergeable"] and status["approvals"]["count"] == 0
    approved = api_as(admin).post(shop["base"] + "/1/approval")
    assert approved.status_code == 201 and approved.json["approvals"]["count"] == 1
    assert approved.json["mergeable"]
    # A push to the source voids it.
    commit_files(shop["git_dir"], {"more.py": "X = 1\n"}, "More", branch="feature")
    status = api_as(author).get(shop["base"] + "/1/mergeability").json
    assert status["approvals"]["count"] == 0 and status["approvals"]["approvals"][0]["why"] == "stale"
    assert api_as(author).post(shop["base"] + "/1/merge", json={}).status_code == 409
    assert api_as(admin).post(shop["base"] + "/1/approval").status_code == 201
    assert api_as(author).post(shop["base"] + "/1/merge", json={}).status_code == 200


def test_draft_blocks_merging_until_ready(api_as, author, shop):
    open_mr(api_as(author), shop, draft=True)
    status = api_as(author).get(shop["base"] + "/1/mergeability").json
    assert not status["mergeable"] and any("draft" in r for r in status["reasons"])
    assert api_as(author).patch(shop["base"] + "/1", json={"draft": False}).status_code == 200
    assert api_as(author).get(shop["base"] + "/1/mergeability").json["mergeable"]


def _pipeline_event(tenant, sha, pipeline, status, outcome="succeeded"):
    row = events.publish(f"cicd.pipeline.{outcome}", {
        "tenant": tenant.slug, "repository": "shop", "pipeline": pipeline, "number": pipeline,
        "ref": "refs/heads/feature",
        "sha": sha, "status": status, "trigger": "push", "error": None}, tenant=tenant)
    db.session.commit()
    return events.deliver(str(row.id), events.handler_name(on_pipeline))


def test_commit_statuses_from_pipeline_events_newest_wins(shop, tenant):
    assert _pipeline_event(tenant, shop["feature"], 7, "running", "started")
    assert _pipeline_event(tenant, shop["feature"], 8, "succeeded")
    assert _pipeline_event(tenant, shop["feature"], 7, "failed", "failed")  # older, late: ignored
    db.session.commit()
    got = services.commit_statuses(tenant.id, "shop", [shop["feature"], shop["main"]])
    assert list(got) == [shop["feature"]] and got[shop["feature"]]["status"] == "succeeded"
    assert got[shop["feature"]]["pipeline"] == 8
    other = make_tenant(owner=make_user())
    assert services.commit_statuses(other.id, "shop", [shop["feature"]]) == {}


def test_a_start_delivered_after_the_end_leaves_the_commit_green(shop, tenant):
    # CI announces a pipeline's start once, before its end; a delivery retried after the end's
    # (seen with a real worker on a busy SQLite database) must not make a green commit "running"
    # again, which would block its merge request with nothing more to come.
    sha = shop["feature"]
    assert _pipeline_event(tenant, sha, 9, "success")
    assert _pipeline_event(tenant, sha, 9, "running", "started")
    db.session.commit()
    assert services.commit_statuses(tenant.id, "shop", [sha])[sha]["status"] == "succeeded"
    # A newer pipeline of the commit (a retry) starting does speak for it.
    assert _pipeline_event(tenant, sha, 10, "running", "started")
    db.session.commit()
    assert services.commit_statuses(tenant.id, "shop", [sha])[sha] | {"updated_at": None} == {
        "sha": sha, "status": "running", "pipeline": 10, "number": 10, "ref": "refs/heads/feature",
        "updated_at": None}


def test_a_protected_branch_requiring_merge_requests_refuses_pushes_and_wants_green(api_as, author, shop,
                                                                                    tenant):
    services.protect(tenant, shop["repo"], {"pattern": "main", "require_merge_request": True,
                                            "require_green_pipeline": True, "merge_methods": ["merge"]})
    db.session.commit()
    pusher = services.Pusher(user_id=author.id, roles=("member",), is_admin=False)
    refusals = services.check_push(tenant, shop["repo"], [(shop["main"], shop["feature"], "refs/heads/main")],
                                   pusher, {})
    assert refusals and "merge requests only" in refusals[0]
    open_mr(api_as(author), shop)
    status = api_as(author).get(shop["base"] + "/1/mergeability").json
    assert status["methods"] == ["merge"] and any("pipeline" in r for r in status["reasons"])
    assert api_as(author).post(shop["base"] + "/1/merge", json={"method": "squash"}).status_code == 422
    assert _pipeline_event(tenant, shop["feature"], 3, "succeeded")
    merged = api_as(author).post(shop["base"] + "/1/merge", json={"method": "merge"})
    assert merged.status_code == 200, merged.json
    assert git(shop["repo"], "log", "-1", "--format=%P", "main").split() == [shop["main"], shop["feature"]]


def test_another_tenant_sees_and_merges_nothing(api_as, author, shop):
    open_mr(api_as(author), shop)
    stranger = make_user()
    make_tenant(owner=stranger)
    api = api_as(stranger)
    for method, suffix in (("GET", "/1"), ("GET", "/1/changes"), ("POST", "/1/merge"),
                           ("POST", "/1/approval")):
        assert api.open(method, shop["base"] + suffix, json={}).status_code == 404
    assert git(shop["repo"], "rev-parse", "main") == shop["main"]


def test_a_viewer_reads_but_cannot_merge(api_as, author, shop, tenant):
    open_mr(api_as(author), shop)
    viewer = make_member(tenant, "viewer")
    assert api_as(viewer).get(shop["base"] + "/1").status_code == 200
    assert api_as(viewer).post(shop["base"] + "/1/merge", json={}).status_code == 403


def test_unrelated_histories_are_a_reason_not_an_error(api_as, author, shop):
    commit_files(shop["git_dir"], {"other.txt": "x"}, "Root", branch="orphan", parents=[])
    made = api_as(author).post(shop["base"], json={"title": "Orphan", "source_branch": "orphan"})
    assert made.status_code == 201
    status = api_as(author).get(shop["base"] + "/1/mergeability").json
    assert not status["mergeable"] and any("common history" in r for r in status["reasons"])
    assert api_as(author).post(shop["base"] + "/1/merge", json={}).status_code == 409


def test_merge_rules_through_the_protection_api(api_as, admin, shop, tenant):
    api = api_as(admin)
    path = f"/api/v1/tenants/{tenant.slug}/repositories/shop/protected-branches"
    made = api.post(path, json={"pattern": "main", "required_approvals": 2, "approval_roles": ["owner"],
                                "merge_methods": ["squash", "ff"], "require_merge_request": True})
    assert made.status_code == 201, made.json
    assert made.json["required_approvals"] == 2 and made.json["merge_methods"] == ["ff", "squash"]
    assert made.json["require_merge_request"] and not made.json["require_green_pipeline"]
    rule = f"{path}/{made.json['id']}"
    for body in ({"required_approvals": -1}, {"required_approvals": 21}, {"merge_methods": ["rebase"]},
                 {"approval_roles": [""]}):
        assert api.patch(rule, json=body).status_code == 422, body
    changed = api.patch(rule, json={"reset_approvals_on_push": True, "merge_methods": []})
    assert changed.json["reset_approvals_on_push"] and changed.json["merge_methods"] == []


def test_commit_statuses_api(api_as, admin, shop, tenant):
    assert _pipeline_event(tenant, shop["feature"], 5, "failed", "failed")
    path = f"/api/v1/tenants/{tenant.slug}/repositories/shop/commit-statuses"
    got = api_as(admin).get(f"{path}?sha={shop['feature']}&sha={shop['main']}").json
    assert [(s["sha"], s["status"], s["pipeline"]) for s in got] == [(shop["feature"], "failed", 5)]
    assert api_as(admin).get(f"{path}?sha=nothex").status_code == 422


def test_a_push_to_the_source_updates_open_merge_requests(api_as, author, shop, tenant):
    from taiji.modules.vcs.events import on_push

    open_mr(api_as(author), shop)
    new = commit_files(shop["git_dir"], {"more.py": "M = 1\n"}, "More", branch="feature")
    ref = "refs/heads/feature"
    services.publish_push(shop["repo"], ref, shop["feature"], new, {"id": author.id, "email": author.email,
                                                                    "name": author.name},
                          services.push_commits(shop["repo"], ref, shop["feature"], new))
    db.session.commit()
    pushed = [r for r in db.session.execute(sa.select(OutboxEvent)).scalars() if r.name == "vcs.push"][-1]
    assert events.deliver(str(pushed.id), events.handler_name(on_push))
    db.session.commit()
    assert api_as(author).get(shop["base"] + "/1").json["head_sha"] == new
    updated = [r.payload for r in db.session.execute(sa.select(OutboxEvent)).scalars()
               if r.name == "vcs.merge_request.updated"]
    assert updated and updated[-1]["changed"] == ["head"] and updated[-1]["sha"] == new


@pytest.mark.live
def test_a_merge_request_merged_locally_and_pushed_reads_merged(git_server, workdir):
    """Real git over HTTP: the branch is merged in a clone and main pushed; VCS's own vcs.push
    handler marks the merge request merged by the pusher, at the new head of main."""
    import uuid
    from types import SimpleNamespace

    from taiji.modules.vcs.events import on_push
    from taiji.modules.vcs.services import merge_requests as mrs
    from taiji.platform import audit
    from taiji.platform.tenancy import tenant_by_slug

    slug = f"t-{uuid.uuid4().hex[:8]}"
    owner = git_server.account(slug, "owner")
    author = git_server.account(slug, "member")
    git_server.create_repo(slug, "app")
    work = workdir / "clone"
    git_server.git("clone", "-q", git_server.remote(slug, "app", owner["token"]), str(work))

    def commit(name, message):
        (work / name).write_text(message + "\n")
        git_server.git("add", name, cwd=work)
        git_server.git("commit", "-q", "-m", message, cwd=work)
        return git_server.git("rev-parse", "HEAD", cwd=work).stdout.strip()

    commit("README.md", "Start")
    git_server.git("push", "-q", "origin", "main", cwd=work)
    git_server.git("checkout", "-q", "-b", "feature", cwd=work)
    feature = commit("login.py", "Add login")
    git_server.git("push", "-q", "origin", "feature", cwd=work)

    def opened():
        tenant = tenant_by_slug(slug)
        repo = services.get_repository(tenant, "app")
        actor = SimpleNamespace(user_id=author["id"], name=author["name"], email=author["email"],
                                is_admin=False)
        return mrs.open_merge_request(tenant, repo, {"title": "Login", "source_branch": "feature",
                                                     "target_branch": "main"}, actor=actor).number

    number = git_server.run(opened)

    def deliver_last_push(ref):
        row = [r for r in db.session.execute(sa.select(OutboxEvent).where(OutboxEvent.name == "vcs.push")
                                             .order_by(OutboxEvent.created_at)).scalars()
               if r.payload["tenant"] == slug and r.payload["ref"] == ref][-1]
        events.deliver(str(row.id), events.handler_name(on_push))  # False when a worker ran it already
        return row.payload

    def state():
        repo = services.get_repository(tenant_by_slug(slug), "app")
        mr = mrs.get_merge_request(repo, number)
        return {"state": mr.state, "merged_by": mr.merged_by, "merge_sha": mr.merge_sha,
                "method": mr.merge_method, "head": mr.head_sha}

    # main moves on without the feature: the request stays open.
    git_server.git("checkout", "-q", "main", cwd=work)
    commit("docs.md", "Docs")
    git_server.git("push", "-q", "origin", "main", cwd=work)
    git_server.run(lambda: deliver_last_push("refs/heads/main"))
    assert git_server.run(state)["state"] == "open"

    # Merged locally (a real merge commit) and pushed to main: merged, by the pusher, at the new head.
    git_server.git("merge", "-q", "--no-ff", "-m", "Merge feature", "feature", cwd=work)
    tip = git_server.git("rev-parse", "HEAD", cwd=work).stdout.strip()
    git_server.git("push", "-q", "origin", "main", cwd=work)
    payload = git_server.run(lambda: deliver_last_push("refs/heads/main"))
    assert payload["after"] == tip
    assert git_server.run(state) == {"state": "merged", "merged_by": owner["name"], "merge_sha": tip,
                                     "method": "push", "head": feature}

    def published():
        merged = [r.payload for r in db.session.execute(sa.select(OutboxEvent).where(
            OutboxEvent.name == "vcs.merge_request.merged")).scalars() if r.payload["tenant"] == slug]
        entries = audit.query(tenant=tenant_by_slug(slug), action="vcs.merge_request.merged").items
        return merged, [(e.actor_id, e.target) for e in entries]

    merged, entries = git_server.run(published)
    assert [(m["number"], m["merge_sha"], m["method"], m["actor_id"]) for m in merged] == [
        (number, tip, "push", owner["id"])]
    assert entries == [(owner["id"], f"app!{number}")]
