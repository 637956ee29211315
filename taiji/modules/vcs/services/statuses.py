"""Commit statuses: the newest pipeline of each commit, as CI's ``cicd.pipeline.*`` events tell it.

VCS is below CI and never calls it; CI announces its pipelines and this keeps, per repository and
commit, the pipeline with the highest id (a rerun replaces an older run; an older event delivered
late changes nothing), so a redelivered or reordered event leaves the same row. Of one pipeline, CI
announces the start once and before any end, so a start that arrives after an end (its delivery was
retried) is stale and leaves the end's status.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from taiji.platform.db import db, utcnow
from taiji.platform.tenancy import Tenant

from ..models import Repository
from ..models_merge import CommitStatus

SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
GREEN = "succeeded"
# A pipeline's own status (cicd PipelineStatus) where VCS's word differs: a finished pipeline is
# announced as cicd.pipeline.succeeded with status "success", and an unusable file as failed/"error".
_CI_STATUS = {"success": GREEN, "error": "failed"}
FINISHED = frozenset({GREEN, "failed", "canceled"})


def record_pipeline(payload: dict) -> CommitStatus | None:
    """Keep what a ``cicd.pipeline.*`` payload says about its commit; None when it names nothing of ours."""
    slug, name, sha = payload.get("tenant"), payload.get("repository"), payload.get("sha") or ""
    pipeline, number, status = payload.get("pipeline"), payload.get("number"), payload.get("status")
    # CI's pipeline statuses, in the words VCS shows and decides by ("succeeded" is green).
    status = _CI_STATUS.get(status, status) if isinstance(status, str) else status
    if not (isinstance(pipeline, int) and isinstance(number, int) and isinstance(status, str)
            and SHA_RE.match(sha)):
        return None
    tenant = db.session.execute(sa.select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    if tenant is None:
        return None
    repo = db.session.execute(sa.select(Repository).where(
        Repository.tenant_id == tenant.id, Repository.live_name == name)).scalar_one_or_none()
    if repo is None:
        return None
    row = db.session.execute(sa.select(CommitStatus).where(
        CommitStatus.repository_id == repo.id, CommitStatus.sha == sha).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        row = CommitStatus(tenant_id=tenant.id, repository_id=repo.id, sha=sha, pipeline_id=pipeline,
                           pipeline_number=number, status=status[:20], ref=(payload.get("ref") or "")[:255])
        try:
            with db.session.begin_nested():
                db.session.add(row)
            return row
        except sa.exc.IntegrityError:  # a concurrent delivery made it: fall through to compare
            row = db.session.execute(sa.select(CommitStatus).where(
                CommitStatus.repository_id == repo.id, CommitStatus.sha == sha)).scalar_one()
    if pipeline < row.pipeline_id:
        return row  # an older pipeline's news: the newer one speaks for this commit
    if pipeline == row.pipeline_id and row.status in FINISHED and status not in FINISHED:
        return row  # its start, delivered after its end
    row.pipeline_id, row.pipeline_number, row.status = pipeline, number, status[:20]
    row.ref = (payload.get("ref") or row.ref)[:255]
    row.updated_at = utcnow()
    db.session.flush()
    return row


def _as_dict(row: CommitStatus) -> dict:
    return {"sha": row.sha, "status": row.status, "pipeline": row.pipeline_id, "number": row.pipeline_number,
            "ref": row.ref, "updated_at": row.updated_at}


def commit_statuses(tenant_id: int, repository_name: str, shas) -> dict[str, dict]:
    """sha -> {status, pipeline, number, ref, updated_at} for the commits of a repository that have
    a pipeline; commits without one are left out. ``shas`` are full commit ids."""
    wanted = [s for s in dict.fromkeys(shas or []) if isinstance(s, str) and SHA_RE.match(s)]
    if not wanted:
        return {}
    repo_id = db.session.execute(sa.select(Repository.id).where(
        Repository.tenant_id == tenant_id, Repository.live_name == repository_name)).scalar_one_or_none()
    if repo_id is None:
        return {}
    result: dict[str, dict] = {}
    for start in range(0, len(wanted), 500):
        rows = db.session.execute(sa.select(CommitStatus).where(
            CommitStatus.repository_id == repo_id, CommitStatus.sha.in_(wanted[start:start + 500]))).scalars()
        result.update({row.sha: _as_dict(row) for row in rows})
    return result


def commit_status(repo: Repository, sha: str | None) -> dict | None:
    if not sha:
        return None
    row = db.session.execute(sa.select(CommitStatus).where(
        CommitStatus.repository_id == repo.id, CommitStatus.sha == sha)).scalar_one_or_none()
    return _as_dict(row) if row is not None else None
