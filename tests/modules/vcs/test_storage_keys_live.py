"""Two repositories never share a directory on disk (issue 12, finding 7), shown with real pushes:
a deleted repository and a new one of the same name, an external repository that had no files,
and a name chosen to land on another repository's directory."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from .test_git_http_live import clone, commit

pytestmark = pytest.mark.live


@pytest.fixture
def team(git_server):
    slug = f"k-{uuid.uuid4().hex[:8]}"
    return {"slug": slug, "owner": git_server.account(slug, "owner")}


def _tenant(slug):
    from taiji.platform.tenancy import tenant_by_slug

    return tenant_by_slug(slug)


def head(server, team, repo, branch="main") -> str:
    out = server.git("ls-remote", server.remote(team["slug"], repo, team["owner"]["token"]),
                     f"refs/heads/{branch}").stdout
    return out.split()[0] if out else ""


def push_new(server, team, repo, where, content) -> str:
    """Clone ``repo``, commit a file and push it to main; returns the commit."""
    clone(server, server.remote(team["slug"], repo, team["owner"]["token"]), where)
    sha = commit(server, where, "README.md", content, f"write {content}")
    server.git("push", "-q", "origin", "main", cwd=where)
    return sha


def delete(server, team, name):
    from taiji.modules.vcs import services

    server.run(lambda: services.delete_repository(_tenant(team["slug"]), services.get_repository(
        _tenant(team["slug"]), name)))


def purge_deleted(server, team, name) -> int:
    """Age the deleted ``name`` past its seven days and run the purge (files go after the commit)."""
    import sqlalchemy as sa

    from taiji.modules.vcs import services
    from taiji.modules.vcs.models import Repository
    from taiji.platform.db import db

    def age_and_purge():
        [repo] = db.session.execute(sa.select(Repository).where(
            Repository.tenant_id == _tenant(team["slug"]).id, Repository.name == name,
            Repository.deleted_at.is_not(None))).scalars()
        repo.deleted_at = repo.deleted_at - dt.timedelta(days=8)
        return services.purge_due_repositories()

    return server.run(age_and_purge)


def test_purging_a_deleted_repository_leaves_the_new_one_of_the_same_name_intact(git_server, workdir, team):
    git_server.create_repo(team["slug"], "x")
    first = push_new(git_server, team, "x", workdir / "old", "old")
    delete(git_server, team, "x")
    git_server.create_repo(team["slug"], "x")
    second = push_new(git_server, team, "x", workdir / "new", "new")
    assert first != second
    assert purge_deleted(git_server, team, "x") >= 1
    assert head(git_server, team, "x") == second
    clone(git_server, git_server.remote(team["slug"], "x", team["owner"]["token"]), workdir / "again")
    assert (workdir / "again" / "README.md").read_text() == "new"


def test_purging_a_deleted_external_repository_leaves_the_hosted_one_of_its_name_intact(
        git_server, workdir, team):
    from taiji.modules.vcs.services import external

    # Followed through webhooks only: it never had files, so its directory stayed free on disk.
    git_server.run(lambda: external.create_external(_tenant(team["slug"]), {"name": "y", "external": {
        "provider": "github", "url": "https://github.com/acme/y.git"}}))
    delete(git_server, team, "y")
    git_server.create_repo(team["slug"], "y")
    pushed = push_new(git_server, team, "y", workdir / "y", "hosted")
    assert purge_deleted(git_server, team, "y") >= 1
    assert head(git_server, team, "y") == pushed
    clone(git_server, git_server.remote(team["slug"], "y", team["owner"]["token"]), workdir / "again")
    assert (workdir / "again" / "README.md").read_text() == "hosted"


def test_a_name_chosen_to_land_on_a_protected_repositorys_directory_cannot_bypass_its_protection(
        git_server, workdir, team):
    """A member names a repository "app.<id the next 'app' will get>": where the directory of a
    re-created repository was "<tenant>/<name>.<id>.git", both pointed at the same folder, and a push
    to the member's repository moved the protected branch of the other."""
    from taiji.modules.vcs import services

    member = git_server.account(team["slug"], "member")
    git_server.create_repo(team["slug"], "app")
    push_new(git_server, team, "app", workdir / "old", "old")
    delete(git_server, team, "app")  # the old directory stays until the purge: "app.git" is taken

    def create(name):
        return git_server.run(lambda: services.create_repository(_tenant(team["slug"]), {"name": name}).id)

    probe = create("probe")
    decoy = f"app.{probe + 2}"
    assert create(decoy) == probe + 1
    assert create("app") == probe + 2  # the id the decoy's name was chosen for
    protected = push_new(git_server, team, "app", workdir / "app", "protected")

    def protect():
        tenant = _tenant(team["slug"])
        services.protect(tenant, services.get_repository(tenant, "app"), {"pattern": "main",
                                                                          "push_roles": ["owner"]})

    git_server.run(protect)
    member_url = git_server.remote(team["slug"], decoy, member["token"])
    clone(git_server, member_url, workdir / "decoy")
    showed_app = (workdir / "decoy" / "README.md").exists()
    commit(git_server, workdir / "decoy", "README.md", "member was here", "not allowed on app")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "decoy")

    assert head(git_server, team, "app") == protected
    assert not showed_app  # the decoy never showed anything of 'app'
    clone(git_server, git_server.remote(team["slug"], "app", team["owner"]["token"]), workdir / "check")
    assert (workdir / "check" / "README.md").read_text() == "protected"
    paths = git_server.run(lambda: {str(services.repository_path(r)) for r in services.list_repositories(
        _tenant(team["slug"]), page_size=50).items})
    assert len(paths) == 3  # probe, decoy and app: three directories
