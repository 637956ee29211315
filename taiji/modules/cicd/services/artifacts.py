"""Artifacts: files a job kept, stored under TAIJI_DATA_DIR/cicd/artifacts until they expire."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from taiji.platform.db import db, utcnow
from taiji.platform.errors import NotFound, msg

from ..models import Artifact, Job


def artifacts_root() -> Path:
    return Path(current_app.config["DATA_DIR"]) / "cicd" / "artifacts"


def _stored_path(job: Job, path: str) -> Path:
    return artifacts_root() / str(job.tenant_id) / str(job.id) / path


def store_artifact(job: Job, source: Path, path: str, *, expire_in: int | None) -> Artifact:
    """Copy one workspace file into the artifact store (temp file + rename: never half a file)."""
    target = _stored_path(job, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while block := src.read(1 << 20):
                digest.update(block)
                out.write(block)
                size += len(block)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    now = utcnow()
    row = db.session.execute(
        sa.select(Artifact).where(Artifact.job_id == job.id, Artifact.path == path)
    ).scalar_one_or_none()
    if row is None:
        row = Artifact(tenant_id=job.tenant_id, job_id=job.id, path=path, size=0, sha256="", created_at=now)
        db.session.add(row)
    row.size, row.sha256, row.created_at = size, digest.hexdigest(), now
    row.expires_at = now + dt.timedelta(seconds=expire_in) if expire_in else None
    row.published = None
    db.session.flush()
    return row


def list_artifacts(job: Job) -> list[Artifact]:
    return list(
        db.session.execute(
            sa.select(Artifact).where(Artifact.job_id == job.id).order_by(Artifact.path)
        ).scalars()
    )


def get_artifact(job: Job, artifact_id: int) -> Artifact:
    row = db.session.execute(
        sa.select(Artifact).where(Artifact.job_id == job.id, Artifact.id == artifact_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No artifact %(artifact_id)s in job '%(job_name)s'.",
                           artifact_id=artifact_id, job_name=job.name))
    return row


def artifact_file(job: Job, artifact_id: int) -> Path:
    """The stored file of one artifact; 404 when it expired or was removed."""
    row = get_artifact(job, artifact_id)
    path = _stored_path(job, row.path)
    if (row.expires_at is not None and row.expires_at <= utcnow()) or not path.is_file():
        raise NotFound(msg("Artifact '%(path)s' has expired.", path=row.path))
    return path


def expire_artifacts(now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Delete artifacts past their retention (rows and files). Returns how many went."""
    now = now or utcnow()
    rows = list(
        db.session.execute(sa.select(Artifact).where(Artifact.expires_at <= now).limit(limit)).scalars()
    )
    for row in rows:
        _stored_path(row.job, row.path).unlink(missing_ok=True)
        db.session.delete(row)
    db.session.flush()
    return len(rows)


def remove_job_files(job: Job) -> None:
    shutil.rmtree(artifacts_root() / str(job.tenant_id) / str(job.id), ignore_errors=True)
