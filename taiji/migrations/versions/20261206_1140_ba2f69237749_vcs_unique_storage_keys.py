"""VCS: every repository's directory is its own, forever (unique storage keys)

Revision ID: ba2f69237749
Revises: 5d2b8e41c7a3
Created: 2026-12-06 10:00:00

Before this revision a repository's directory was named after its tenant and name
("<tenant>/<name>.git", or "<tenant>/<name>.<id>.git" when that one was taken on disk), and two
rows could end up with the same one (issue 12, finding 7). New repositories now get a random key
under ``_repositories/``, where no name-derived key can land, and the key is unique.

What an upgrade does on disk: nothing, for every repository whose directory is its own — it keeps
its key and its files stay where they are, so an upgrade moves no data and cannot half-move it.
Rows that share a key with another are separated: the live one (the newest, if several are live)
keeps the directory; each other one gets a new key and a copy of the directory as it is now, so
no repository loses what it shows. A copy is made before the row points at it; should the
upgrade fail afterwards, the copy is an unused folder under ``_repositories/`` and nothing else
changed. Run the upgrade with the web server stopped (as every upgrade): a push during the copy
would land in one of the two only.
"""

import shutil
import uuid
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context

revision = 'ba2f69237749'
down_revision = '5d2b8e41c7a3'
branch_labels = None
depends_on = None

STORAGE_DIR = "_repositories"  # as taiji.modules.vcs.models.STORAGE_DIR, frozen here


def _new_key() -> str:
    token = uuid.uuid4().hex
    return f"{STORAGE_DIR}/{token[:2]}/{token}.git"


def _git_root() -> Path | None:
    if not has_app_context():
        return None
    return (Path(current_app.config["DATA_DIR"]) / "git").resolve()


def _directory(root: Path | None, key: str) -> Path | None:
    if root is None or not key:
        return None
    path = root.joinpath(*key.split("/")).resolve()
    return path if root in path.parents and path.is_dir() else None


def upgrade():
    bind = op.get_bind()
    repository = sa.table("vcs_repository", sa.column("id"), sa.column("storage_key"), sa.column("deleted_at"))
    rows = bind.execute(sa.select(repository.c.id, repository.c.storage_key, repository.c.deleted_at)
                        .order_by(repository.c.id)).all()
    by_key = defaultdict(list)
    for row in rows:
        by_key[row.storage_key or ""].append(row)
    root = _git_root()
    for key, sharing in by_key.items():
        if key and len(sharing) == 1:
            continue
        # An empty key names no directory of its own: every such row gets a new one.
        keeper = max(sharing, key=lambda r: (r.deleted_at is None, r.id)) if key else None
        source = _directory(root, key)
        for row in sharing:
            if row is keeper:
                continue
            new_key = _new_key()
            if source is not None:
                target = root.joinpath(*new_key.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(source, target, symlinks=True)
            bind.execute(sa.update(repository).where(repository.c.id == row.id).values(storage_key=new_key))
    with op.batch_alter_table('vcs_repository', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_vcs_repository_storage_key'), ['storage_key'])


def downgrade():
    # The keys stay as they are: the code before this revision reads a row's key, whatever its form.
    with op.batch_alter_table('vcs_repository', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_vcs_repository_storage_key'), type_='unique')
