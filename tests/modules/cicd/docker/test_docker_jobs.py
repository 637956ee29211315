"""Jobs in containers on a real engine: the image, the user, the workspace, the log, the limits."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.live


def test_a_job_runs_in_the_default_image_as_a_non_root_user_in_workspace(dci, docker_client):
    repo = dci.repo({".taiji.yml": """
jobs:
  build:
    script:
      - id -u; pwd; cat hello.txt
      - python --version; python -m pytest --version
      - mkdir -p out && echo made > out/result.txt
    artifacts: {paths: [out/]}
""", "hello.txt": "hello from the checkout\n"})
    state = dci.drive(dci.run(repo), timeout=120)
    job = state["jobs"]["build"]
    log = dci.log(job["id"])
    assert state["status"] == "success", log
    assert "1000\n/workspace\nhello from the checkout" in log
    assert "pytest" in log
    assert [a[0] for a in job["artifacts"]] == ["out/result.txt"]
    row = dci.job_row(job["id"])
    assert row["image"] == "taiji/python:bookworm" and row["image_digest"].startswith("sha256:")
    # Nothing of the job is left on the engine.
    assert docker_client.containers.list(
        all=True, sparse=True, filters={"label": f"org.taiji.cicd.job={job['id']}"}) == []
    assert docker_client.networks.list(filters={"label": f"org.taiji.cicd.job={job['id']}"}) == []


def test_files_copied_back_from_the_container_never_land_outside_the_checkout(dci, tmp_path):
    """The repository holds a link out of the checkout (`out -> a folder of the worker's host`); the
    job replaces it with a real folder in its container and asks to keep what it wrote there. What
    comes back must not follow the worker's copy of the link."""
    victim = tmp_path / "worker-host-folder"
    victim.mkdir()
    repo = dci.repo({".taiji.yml": """
jobs:
  plant:
    script:
      - ls -la out
      - rm out && mkdir out && echo planted > out/authorized_keys
    artifacts: {paths: [out/]}
"""})
    from taiji.modules.vcs import services as vcs

    with dci.ctx():
        git_dir = str(vcs.local_git_dir(vcs.find_repository(dci.tenant(), repo)))
    _commit_link(git_dir, "out", str(victim))
    state = dci.drive(dci.run(repo), timeout=120)
    job = state["jobs"]["plant"]
    assert list(victim.iterdir()) == [], "a file was written through the checkout's link onto the host"
    assert job["status"] == "success", dci.log(job["id"])
    assert [a[0] for a in job["artifacts"]] == ["out/authorized_keys"]


def _commit_link(git_dir: str, path: str, target: str) -> None:
    """A commit on main adding the symbolic link ``path`` -> ``target`` (git's plumbing, no hooks)."""
    import os
    import subprocess

    def git(*args, stdin=None, env=None):
        return subprocess.run(["git", "--git-dir", git_dir, *args], input=stdin, capture_output=True,
                              text=True, check=True, env={**os.environ, **(env or {})}).stdout.strip()

    index = {"GIT_INDEX_FILE": f"{git_dir}/taiji-test-index"}
    blob = git("hash-object", "-w", "--stdin", stdin=target)
    git("read-tree", "main", env=index)
    git("update-index", "--add", "--cacheinfo", f"120000,{blob},{path}", env=index)
    tree = git("write-tree", env=index)
    os.unlink(index["GIT_INDEX_FILE"])
    who = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    commit = git("commit-tree", tree, "-p", "main", "-m", "a link out", env=who)
    git("update-ref", "refs/heads/main", commit)
