"""The upgrade that makes storage keys unique, on a database (and data folder) from before it: rows
sharing a directory are separated without losing files, every other repository stays where it is."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy.exc import IntegrityError

from taiji.platform.db import db
from taiji.platform.tasks import init_celery
from tests.conftest import ROOT, app_overrides, sibling_database

MIGRATIONS = str(ROOT / "taiji" / "migrations")
REVISION = "ba2f69237749"

tenant_t = sa.table("kernel_tenant", *(sa.column(c) for c in (
    "id", "slug", "name", "status", "mfa_required", "version", "created_at", "updated_at")))
repo_t = sa.table("vcs_repository", *(sa.column(c) for c in (
    "id", "tenant_id", "name", "live_name", "description", "kind", "visibility", "default_branch",
    "size_bytes", "deleted_at", "storage_key", "version", "created_at", "updated_at")))


@pytest.fixture
def old_app(app, tmp_path):
    from taiji.platform.app import create_app

    fresh = create_app(app_overrides(sibling_database("storagekeys", tmp_path), tmp_path / "data"))
    yield fresh
    with fresh.app_context():
        db.engine.dispose()
    init_celery(app)  # the Celery app is process-wide: hand it back


def _bare(path, content: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin"}

    def git(*args, data=None):
        return subprocess.run(["git", f"--git-dir={path}", *args], input=data, env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    blob = git("hash-object", "-w", "--stdin", data=content)
    tree = git("mktree", data=f"100644 blob {blob}\tREADME.md\n")
    sha = git("commit-tree", tree, "-m", content)
    git("update-ref", "refs/heads/main", sha)
    return sha


def test_rows_sharing_a_directory_are_separated_and_the_others_do_not_move(old_app, tmp_path):
    previous = ScriptDirectory(MIGRATIONS).get_revision(REVISION).down_revision
    root = tmp_path / "data" / "git"
    with old_app.app_context():
        upgrade(directory=MIGRATIONS, revision=previous)
        now = dt.datetime.now(dt.UTC)
        shared = _bare(root / "acme" / "x.git", "shared")
        solo = _bare(root / "acme" / "solo.git", "solo")
        with db.engine.begin() as conn:
            conn.execute(sa.insert(tenant_t).values(id=1, slug="acme", name="Acme", status="active",
                                                    mfa_required=False, version=1, created_at=now,
                                                    updated_at=now))

            def row(id_, name, key, *, deleted=False, kind="hosted"):
                conn.execute(sa.insert(repo_t).values(
                    id=id_, tenant_id=1, name=name, live_name=None if deleted else name, description="",
                    kind=kind, visibility="private", default_branch="main", size_bytes=0,
                    deleted_at=now if deleted else None, storage_key=key, version=1, created_at=now,
                    updated_at=now))

            row(1, "y", "acme/x.git", deleted=True, kind="external")  # followed only: it had no files
            row(2, "x", "acme/x.git")  # the live one the directory belongs to
            row(3, "solo", "acme/solo.git")
            row(4, "e1", "", kind="external")
            row(5, "e2", "", kind="external")

        upgrade(directory=MIGRATIONS, revision=REVISION)

        with db.engine.begin() as conn:
            keys = dict(conn.execute(sa.select(repo_t.c.id, repo_t.c.storage_key)).all())
        assert keys[2] == "acme/x.git" and keys[3] == "acme/solo.git"  # nothing of theirs moved
        assert len(set(keys.values())) == 5
        for other in (1, 4, 5):
            assert keys[other].startswith("_repositories/") and keys[other].endswith(".git")
        copy = root.joinpath(*keys[1].split("/"))
        assert subprocess.run(["git", f"--git-dir={copy}", "rev-parse", "main"], capture_output=True,
                              text=True, check=True).stdout.strip() == shared
        assert not root.joinpath(*keys[4].split("/")).exists()
        assert subprocess.run(["git", f"--git-dir={root / 'acme' / 'solo.git'}", "rev-parse", "main"],
                              capture_output=True, text=True, check=True).stdout.strip() == solo
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(sa.update(repo_t).where(repo_t.c.id == 3).values(storage_key="acme/x.git"))
