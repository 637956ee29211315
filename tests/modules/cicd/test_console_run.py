"""Running a pipeline by hand from the console, on a real hosted repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from taiji.modules.cicd import services
from taiji.modules.vcs import services as vcs
from taiji.platform.db import db

PIPELINE_FILE = "jobs:\n  build:\n    script: [echo \"building $TARGET\"]\n"


def git(*args, cwd):
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def hosted_repository(tenant, admin, tmp_path: Path, name="shop", files=None):
    """A hosted repository whose main holds ``files``; the commit is fetched straight into the
    bare repository, so no push hook (and no push pipeline) is involved."""
    repo = vcs.create_repository(tenant, {"name": name}, actor=admin)
    db.session.commit()
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    for path, text in (files or {".taiji.yml": PIPELINE_FILE}).items():
        (work / path).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("fetch", "-q", str(work), "main:main", cwd=vcs.local_git_dir(repo))
    return repo, git("rev-parse", "HEAD", cwd=work).strip()


def test_run_pipeline_by_hand_with_variables(login, admin, tenant, tmp_path):
    _repo, sha = hosted_repository(tenant, admin, tmp_path)
    client = login(admin)
    form = {"repository": "shop", "ref": "main", "variables": "TARGET=staging\n# note\n"}
    response = client.post(f"/t/{tenant.slug}/pipelines", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    [pipeline] = services.list_pipelines(tenant).items
    assert response.headers["Location"].endswith(f"/t/{tenant.slug}/pipelines/{pipeline.id}")
    assert pipeline.sha == sha and pipeline.ref == "refs/heads/main"
    assert pipeline.variables == {"TARGET": "staging"}
    assert pipeline.trigger == "manual" and pipeline.created_by_email == admin.email
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Pipeline #1 started." in html
    assert 'data-job="build"' in html


def test_run_on_a_ref_without_pipeline_file_says_so(login, admin, tenant, tmp_path):
    hosted_repository(tenant, admin, tmp_path, files={"README.md": "hi\n"})
    response = login(admin).post(f"/t/{tenant.slug}/pipelines", data={"repository": "shop", "ref": "main"})
    assert response.status_code == 422
    assert ".taiji.yml" in response.get_data(as_text=True)
    response = login(admin).post(f"/t/{tenant.slug}/pipelines", data={"repository": "shop", "ref": "nope"})
    assert response.status_code == 422
    assert "No branch, tag or commit" in response.get_data(as_text=True)
    assert services.list_pipelines(tenant).total == 0
