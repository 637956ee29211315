"""The real ``git`` client against a served Taiji: clone, push, protection, access, large pushes,
protocol v2, quotas and the ``vcs.push`` event."""

from __future__ import annotations

import os
import uuid

import pytest

pytestmark = pytest.mark.live


@pytest.fixture
def team(git_server):
    """A fresh tenant with its owner (and token) and an empty hosted repository 'app'."""
    slug = f"t-{uuid.uuid4().hex[:8]}"
    owner = git_server.account(slug, "owner")
    git_server.create_repo(slug, "app")
    return {"slug": slug, "owner": owner}


def commit(server, cwd, name: str, content: str, message: str) -> str:
    (cwd / name).write_text(content)
    server.git("add", name, cwd=cwd)
    server.git("commit", "-q", "-m", message, cwd=cwd)
    return server.git("rev-parse", "HEAD", cwd=cwd).stdout.strip()


def clone(server, url, dest, **kw):
    return server.git("clone", "-q", url, str(dest), **kw)


def remote_head(server, team, token, branch="main") -> str:
    out = server.git("ls-remote", server.remote(team["slug"], "app", token), f"refs/heads/{branch}").stdout
    return out.split()[0] if out else ""


def test_clone_empty_push_and_clone_back(git_server, workdir, team):
    url = git_server.remote(team["slug"], "app", team["owner"]["token"])
    clone(git_server, url, workdir / "a")
    first = commit(git_server, workdir / "a", "README.md", "# App\n", "Start the app")
    second = commit(git_server, workdir / "a", "main.py", "print('hi')\n", "Say hi")
    pushed = git_server.git("push", "-q", "origin", "main", cwd=workdir / "a")
    assert pushed.returncode == 0
    clone(git_server, url, workdir / "b")
    assert (workdir / "b" / "main.py").read_text() == "print('hi')\n"
    assert git_server.git("rev-parse", "HEAD", cwd=workdir / "b").stdout.strip() == second

    events = git_server.pushes(team["slug"], "app")
    assert len(events) == 1
    event = events[0]
    assert event["ref"] == "refs/heads/main" and event["before"] == "0" * 40 and event["after"] == second
    assert [c["id"] for c in event["commits"]] == [second, first]  # newest first
    assert event["commits"][0]["message"].strip() == "Say hi"
    assert event["commits"][0]["author"] == {"name": "Test Pusher", "email": "pusher@git.example"}
    assert event["pusher"] == {"id": team["owner"]["id"], "email": team["owner"]["email"],
                               "name": team["owner"]["name"]}


def test_one_event_per_ref_update_with_only_the_new_commits(git_server, workdir, team):
    url = git_server.remote(team["slug"], "app", team["owner"]["token"])
    clone(git_server, url, workdir / "a")
    base = commit(git_server, workdir / "a", "a.txt", "1", "one")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "a")
    nxt = commit(git_server, workdir / "a", "a.txt", "2", "two")
    git_server.git("branch", "feature", cwd=workdir / "a")
    git_server.git("tag", "v1", cwd=workdir / "a")
    git_server.git("push", "-q", "origin", "main", "feature", "v1", cwd=workdir / "a")
    events = git_server.pushes(team["slug"], "app")
    by_ref = {}
    for e in events:
        by_ref.setdefault(e["ref"], []).append(e)
    assert sorted(by_ref) == ["refs/heads/feature", "refs/heads/main", "refs/tags/v1"]
    assert len(by_ref["refs/heads/main"]) == 2 and len(by_ref["refs/heads/feature"]) == 1
    update = by_ref["refs/heads/main"][1]
    assert update["before"] == base and update["after"] == nxt
    assert [c["id"] for c in update["commits"]] == [nxt]
    # A new branch whose commits another ref already has brings no new commits.
    assert by_ref["refs/heads/feature"][0]["commits"] == []

    git_server.git("push", "-q", "origin", "--delete", "feature", cwd=workdir / "a")
    deleted = [e for e in git_server.pushes(team["slug"], "app") if e["ref"] == "refs/heads/feature"][-1]
    assert deleted["after"] == "0" * 40 and deleted["commits"] == []


def _protect(git_server, team, **rule):
    from taiji.modules.vcs import services
    from taiji.platform.tenancy import tenant_by_slug

    def do():
        tenant = tenant_by_slug(team["slug"])
        services.protect(tenant, services.get_repository(tenant, "app"), rule)

    git_server.run(do)


def test_force_push_to_a_protected_branch_is_refused_with_the_reason(git_server, workdir, team):
    token = team["owner"]["token"]
    url = git_server.remote(team["slug"], "app", token)
    clone(git_server, url, workdir / "a")
    commit(git_server, workdir / "a", "a.txt", "1", "one")
    head = commit(git_server, workdir / "a", "a.txt", "2", "two")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "a")
    _protect(git_server, team, pattern="main")
    before_events = len(git_server.pushes(team["slug"], "app"))

    git_server.git("reset", "-q", "--hard", "HEAD~1", cwd=workdir / "a")
    commit(git_server, workdir / "a", "b.txt", "x", "rewrite history")
    refused = git_server.git("push", "-f", "origin", "main", cwd=workdir / "a", check=False)
    assert refused.returncode != 0
    assert "remote: Taiji refused this push: Branch 'main' is protected: force-push" in refused.stderr
    assert remote_head(git_server, team, token) == head
    assert len(git_server.pushes(team["slug"], "app")) == before_events

    # A fast-forward is still fine.
    git_server.git("reset", "-q", "--hard", head, cwd=workdir / "a")
    newer = commit(git_server, workdir / "a", "c.txt", "y", "forward")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "a")
    assert remote_head(git_server, team, token) == newer


def test_deleting_a_protected_branch_is_refused(git_server, workdir, team):
    token = team["owner"]["token"]
    clone(git_server, git_server.remote(team["slug"], "app", token), workdir / "a")
    commit(git_server, workdir / "a", "a.txt", "1", "one")
    git_server.git("push", "-q", "origin", "main", "main:release/1.0", cwd=workdir / "a")
    _protect(git_server, team, pattern="release/*")
    refused = git_server.git("push", "origin", "--delete", "release/1.0", cwd=workdir / "a", check=False)
    assert refused.returncode != 0
    assert "Branch 'release/1.0' is protected: it cannot be deleted." in refused.stderr
    assert remote_head(git_server, team, token, "release/1.0")


def test_a_role_not_allowed_cannot_push_to_a_protected_branch(git_server, workdir, team):
    member = git_server.account(team["slug"], "member")
    clone(git_server, git_server.remote(team["slug"], "app", team["owner"]["token"]), workdir / "a")
    commit(git_server, workdir / "a", "a.txt", "1", "one")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "a")
    _protect(git_server, team, pattern="main", push_roles=["owner", "admin"])
    head = remote_head(git_server, team, team["owner"]["token"])

    clone(git_server, git_server.remote(team["slug"], "app", member["token"]), workdir / "m")
    commit(git_server, workdir / "m", "m.txt", "m", "member change")
    refused = git_server.git("push", "origin", "main", cwd=workdir / "m", check=False)
    assert refused.returncode != 0
    assert "only the roles admin, owner may push to it" in refused.stderr
    assert remote_head(git_server, team, team["owner"]["token"]) == head
    # Other branches stay open to the member.
    git_server.git("push", "-q", "origin", "main:topic", cwd=workdir / "m")


def test_anonymous_and_wrong_tokens_are_refused(git_server, workdir, team):
    anonymous = git_server.git("clone", git_server.remote(team["slug"], "app"), str(workdir / "x"),
                               check=False)
    assert anonymous.returncode != 0 and not (workdir / "x").exists()
    wrong = git_server.git("clone", git_server.remote(team["slug"], "app", "tj_not-a-real-token"),
                           str(workdir / "y"), check=False)
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr


def test_public_repositories_are_readable_anonymously_but_not_writable(git_server, workdir, team):
    token = team["owner"]["token"]
    git_server.create_repo(team["slug"], "open", visibility="public")
    clone(git_server, git_server.remote(team["slug"], "open", token), workdir / "a")
    commit(git_server, workdir / "a", "a.txt", "1", "one")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "a")

    clone(git_server, git_server.remote(team["slug"], "open"), workdir / "anon")
    assert (workdir / "anon" / "a.txt").read_text() == "1"
    commit(git_server, workdir / "anon", "b.txt", "2", "anonymous change")
    refused = git_server.git("push", "origin", "main", cwd=workdir / "anon", check=False)
    assert refused.returncode != 0


def test_viewers_cannot_push_and_outsiders_do_not_see_the_repository(git_server, workdir, team):
    viewer = git_server.account(team["slug"], "viewer")
    outsider = git_server.account(f"o-{uuid.uuid4().hex[:8]}", "owner")
    clone(git_server, git_server.remote(team["slug"], "app", viewer["token"]), workdir / "v")
    commit(git_server, workdir / "v", "a.txt", "1", "one")
    refused = git_server.git("push", "origin", "main", cwd=workdir / "v", check=False)
    assert refused.returncode != 0 and "403" in refused.stderr
    hidden = git_server.git("clone", git_server.remote(team["slug"], "app", outsider["token"]),
                            str(workdir / "o"), check=False)
    assert hidden.returncode != 0 and "not found" in hidden.stderr.lower()


def test_a_20_mb_push_of_incompressible_data_works(git_server, workdir, team):
    url = git_server.remote(team["slug"], "app", team["owner"]["token"])
    clone(git_server, url, workdir / "a")
    (workdir / "a" / "blob.bin").write_bytes(os.urandom(20 * 1024 * 1024))
    git_server.git("add", "blob.bin", cwd=workdir / "a")
    git_server.git("commit", "-q", "-m", "big", cwd=workdir / "a")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "a")
    clone(git_server, url, workdir / "b")
    assert (workdir / "b" / "blob.bin").read_bytes() == (workdir / "a" / "blob.bin").read_bytes()

    from taiji.modules.vcs import services
    from taiji.platform.tenancy import tenant_by_slug

    size = git_server.run(lambda: services.get_repository(tenant_by_slug(team["slug"]), "app").size_bytes)
    assert size > 20 * 1024 * 1024


def test_protocol_v2_clone(git_server, workdir, team):
    url = git_server.remote(team["slug"], "app", team["owner"]["token"])
    clone(git_server, url, workdir / "a")
    commit(git_server, workdir / "a", "a.txt", "1", "one")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "a")
    traced = git_server.git("-c", "protocol.version=2", "clone", url, str(workdir / "v2"),
                            env={"GIT_TRACE_PACKET": "1"})
    assert "git< version 2" in traced.stderr
    assert (workdir / "v2" / "a.txt").read_text() == "1"


def test_a_push_over_the_storage_quota_is_refused(git_server, workdir, team):
    from taiji.modules.vcs import services
    from taiji.platform import quotas
    from taiji.platform.tenancy import tenant_by_slug

    def limit():
        tenant = tenant_by_slug(team["slug"])
        quotas.set_limit(tenant, services.STORAGE_METER, services.storage_used(tenant) + 200_000)

    git_server.run(limit)
    clone(git_server, git_server.remote(team["slug"], "app", team["owner"]["token"]), workdir / "a")
    (workdir / "a" / "big.bin").write_bytes(os.urandom(1024 * 1024))
    git_server.git("add", "big.bin", cwd=workdir / "a")
    git_server.git("commit", "-q", "-m", "too big", cwd=workdir / "a")
    refused = git_server.git("push", "origin", "main", cwd=workdir / "a", check=False)
    assert refused.returncode != 0
    assert "repository storage is full" in refused.stderr and "vcs.storage_bytes" in refused.stderr
    assert remote_head(git_server, team, team["owner"]["token"]) == ""


@pytest.mark.parametrize("path", [
    "/git/{t}/..%2f..%2fetc.git/info/refs?service=git-upload-pack",
    "/git/{t}/%2e%2e.git/info/refs?service=git-upload-pack",
    "/git/{t}/...git/info/refs?service=git-upload-pack",
    "/git/{t}/app.git/../../info/refs?service=git-upload-pack",
    "/git/%2e%2e/app.git/info/refs?service=git-upload-pack",
    "/git/{t}/app.git/objects/info/packs",
    "/git/{t}/app.git/config",
    "/git/{t}/app.git/HEAD",
])
def test_traversal_and_non_smart_paths_are_refused(git_server, team, path):
    import base64
    import http.client

    host, port = git_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    credentials = base64.b64encode(f"x:{team['owner']['token']}".encode()).decode()
    conn.request("GET", path.format(t=team["slug"]), headers={"Authorization": f"Basic {credentials}"})
    response = conn.getresponse()
    body = response.read()
    assert response.status in (400, 404), body
    assert b"[core]" not in body and b"ref:" not in body
