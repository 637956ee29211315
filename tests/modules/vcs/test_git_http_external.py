"""External repositories over Taiji's Git HTTP with the real ``git`` client: a mirrored one is
cloned from the mirror; a push is refused, with the reason shown, because the next fetch from the
forge would undo it."""

from __future__ import annotations

import uuid

import pytest

from .fixtures.forge import Forge
from .fixtures.gitdata import commit_files, seed_shop

pytestmark = pytest.mark.live

PASSWORD = "forge-secret-4c1d"


@pytest.fixture
def forge(tmp_path, git_server, monkeypatch):
    # The forge listens on loopback, which mirrors may fetch from only when an operator allows it.
    monkeypatch.setitem(git_server.app.config, "VCS_MIRROR_ALLOWED_HOSTS", ("127.0.0.1",))
    (tmp_path / "forge").mkdir()
    forge = Forge(tmp_path / "forge", "mirror-bot", PASSWORD).start()
    yield forge
    forge.stop()


def external_repo(git_server, slug: str, forge, *, mirror: bool) -> int:
    from taiji.modules.vcs.services import external, mirrors
    from taiji.platform.tenancy import tenant_by_slug

    def make():
        repo, _ = external.create_external(tenant_by_slug(slug), {"name": "shop", "external": {
            "provider": "git", "url": f"{forge.url}/shop.git", "mirror": mirror,
            "mirror_credentials": {"username": "mirror-bot", "password": PASSWORD}}})
        return repo.id

    repo_id = git_server.run(make)
    if mirror:
        assert git_server.run(lambda: mirrors.fetch_mirror(repo_id))
    return repo_id


def test_a_mirrored_external_repository_clones_through_taiji_and_refuses_pushes(git_server, workdir, forge):
    slug = f"x-{uuid.uuid4().hex[:8]}"
    owner = git_server.account(slug, "owner")
    upstream = forge.create("shop")
    shas = seed_shop(upstream)
    external_repo(git_server, slug, forge, mirror=True)
    url = git_server.remote(slug, "shop", owner["token"])

    git_server.git("clone", "-q", url, str(workdir / "copy"))
    head = git_server.git("rev-parse", "HEAD", cwd=workdir / "copy").stdout.strip()
    assert head == upstream_head(upstream)
    assert head in shas.values()
    requests_before = len(forge.requests)

    commit_files_in(git_server, workdir / "copy")
    pushed = git_server.git("push", "origin", "main", cwd=workdir / "copy", check=False)
    assert pushed.returncode != 0
    assert "remote: Taiji refused this push: shop mirrors an external repository" in pushed.stderr
    assert f"{forge.url}/shop.git" in pushed.stderr
    assert upstream_head(upstream) == head  # nothing reached the forge
    assert len(forge.requests) == requests_before
    assert git_server.pushes(slug, "shop") == []
    # The mirror itself is unchanged: a fresh clone still has the forge's tip.
    git_server.git("clone", "-q", url, str(workdir / "again"))
    assert git_server.git("rev-parse", "HEAD", cwd=workdir / "again").stdout.strip() == head

    # The next commit on the forge arrives with the next fetch, and clones see it.
    newer = commit_files(upstream, {"NEWS": "fetched\n"}, "News")
    from taiji.modules.vcs import services
    from taiji.modules.vcs.services import mirrors
    from taiji.platform.tenancy import tenant_by_slug

    assert git_server.run(lambda: mirrors.fetch_mirror(
        services.get_repository(tenant_by_slug(slug), "shop").id))
    git_server.git("pull", "-q", "--ff-only", cwd=workdir / "again")
    assert git_server.git("rev-parse", "HEAD", cwd=workdir / "again").stdout.strip() == newer


def test_an_unmirrored_external_repository_says_where_to_clone_from(git_server, workdir, forge):
    slug = f"x-{uuid.uuid4().hex[:8]}"
    owner = git_server.account(slug, "owner")
    forge.create("shop")
    external_repo(git_server, slug, forge, mirror=False)
    cloned = git_server.git("clone", "-q", git_server.remote(slug, "shop", owner["token"]),
                            str(workdir / "copy"), check=False)
    assert cloned.returncode != 0
    assert "no mirror in Taiji" in cloned.stderr and f"{forge.url}/shop.git" in cloned.stderr


def test_readers_of_another_tenant_still_get_a_404(git_server, workdir, forge):
    slug = f"x-{uuid.uuid4().hex[:8]}"
    git_server.account(slug, "owner")
    forge.create("shop")
    seed_shop(forge.root / "shop.git")
    external_repo(git_server, slug, forge, mirror=True)
    stranger = git_server.account(f"y-{uuid.uuid4().hex[:8]}", "owner")
    cloned = git_server.git("clone", "-q", git_server.remote(slug, "shop", stranger["token"]),
                            str(workdir / "copy"), check=False)
    assert cloned.returncode != 0 and "Repository not found" in cloned.stderr


def upstream_head(path) -> str:
    import git

    return git.Repo(str(path)).git.rev_parse("refs/heads/main")


def commit_files_in(server, cwd) -> None:
    (cwd / "LOCAL.md").write_text("made here\n")
    server.git("add", "LOCAL.md", cwd=cwd)
    server.git("commit", "-q", "-m", "Local change", cwd=cwd)
