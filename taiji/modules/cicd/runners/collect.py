"""After the last line: the job's artifacts kept, and published to binary repositories when asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from taiji.platform.db import db, utcnow
from taiji.platform.tenancy import Tenant

from ..models import FailureReason, Job
from ..services.artifacts import store_artifact
from .process import LogWriter
from .workspace import find_files

CYAN, GREEN, RED, RESET = "\x1b[36m", "\x1b[32m", "\x1b[31m", "\x1b[0m"


def hold_write_lock(job: Job) -> None:
    """Start a unit of work with a write (it doubles as a heartbeat). On SQLite, a transaction that
    reads first and writes later is refused when another thread wrote in between; one that writes
    first waits for the lock instead."""
    db.session.commit()
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job.id)
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def collect(job: Job, workspace: Path, writer: LogWriter) -> str | None:
    """Keep the artifacts; publish those under `publish`. Returns a failure reason or None."""
    artifacts = job.spec.get("artifacts") or {}
    files = find_files(workspace, artifacts.get("paths") or [])
    if artifacts.get("paths") and not files:
        writer.write(f"{CYAN}No files matched artifacts.paths {artifacts['paths']}{RESET}\n")
    stored = []
    hold_write_lock(job)
    for rel, path in files:
        stored.append(store_artifact(job, path, rel, expire_in=artifacts.get("expire_in")))
        writer.write(f"{CYAN}Artifact {rel} ({path.stat().st_size} bytes){RESET}\n")
    db.session.commit()
    return publish(job, stored, writer.write)


def publish(job: Job, stored: list, write: Callable[[str], None]) -> str | None:
    """Publish the kept artifacts ``stored`` to the binary repository the job's `artifacts.publish`
    names (any runner's job). Returns a failure reason, or None."""
    repository = (job.spec.get("artifacts") or {}).get("publish")
    if not repository or not stored:
        return None
    from taiji.modules.bpr import services as bpr_services

    from ..services.artifacts import artifact_file

    tenant = db.session.get(Tenant, job.tenant_id)
    failed = False
    for artifact in stored:
        source = {
            "pipeline": job.pipeline_id,
            "job": job.id,
            "repository": job.pipeline.repository,
            "sha": job.pipeline.sha,
        }
        hold_write_lock(job)
        try:
            with db.session.begin_nested():
                result = bpr_services.publish_artifact(
                    tenant,
                    repository,
                    artifact_file(job, artifact.id),
                    path=artifact.path.rsplit("/", 1)[-1],
                    actor=None,
                    source=source,
                )
            artifact.published = {"repository": repository, **_jsonable(result)}
            write(f"{GREEN}Published {artifact.path} to {repository}{RESET}\n")
        except Exception as exc:  # a refused upload (duplicate, quota) fails the job, with the reason
            failed = True
            detail = getattr(exc, "detail", None) or str(exc)
            artifact.published = {"repository": repository, "error": detail[:500]}
            write(f"{RED}Could not publish {artifact.path} to {repository}: {detail}{RESET}\n")
        db.session.commit()
    return FailureReason.SYSTEM.value if failed else None


def _jsonable(result) -> dict:
    if not isinstance(result, dict):
        return {}
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in result.items()}
