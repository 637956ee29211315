"""What lost attempts leave on a worker's host: their folders (and file systems), removed.

A job's own thread removes its folder when it ends; a worker that dies cannot. Its processes died
with it (every executor ties them to the worker), its folder stays: the next worker started on the
host, and every reaper run, remove each folder whose attempt is not running on a live worker of
this host.
"""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from taiji.platform.db import db

from ..models import Job, JobStatus
from .disk import release
from .executor import executor_class, executor_kinds

log = logging.getLogger("taiji.cicd.runner")

_FOLDER = re.compile(r"^(\d+)-(\d+)(?:\.img)?$")


def _worker_alive(worker: str | None) -> bool:
    """Whether the worker named ``host:pid`` may still be running the attempt. A worker of another
    host is given the benefit of the doubt: its folder is on its own disk."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True
    import psutil  # here: importing it costs every process's start-up a tenth of a second

    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except (ValueError, psutil.NoSuchProcess):
        return False


def sweep_workspaces() -> list[str]:
    """Remove the folders of attempts that no live worker of this host runs. Returns their names."""
    root = Path(current_app.config["DATA_DIR"]) / "cicd" / "workspaces"
    if not root.is_dir():
        return []
    attempts: dict[tuple[int, int], list[Path]] = {}
    for entry in root.iterdir():
        match = _FOLDER.match(entry.name)
        if match:
            attempts.setdefault((int(match[1]), int(match[2])), []).append(entry)
    if not attempts:
        return []
    rows = {
        row.id: row
        for row in db.session.execute(
            sa.select(Job.id, Job.status, Job.attempt, Job.worker).where(
                Job.id.in_({job_id for job_id, _ in attempts})
            )
        )
    }
    db.session.commit()
    removed = []
    for job_id, attempt in sorted(attempts):
        row = rows.get(job_id)
        if (
            row is not None
            and row.status == JobStatus.RUNNING.value
            and row.attempt == attempt
            and _worker_alive(row.worker)
        ):
            continue
        folder = root / f"{job_id}-{attempt}"
        for kind in executor_kinds():
            try:
                executor_class(kind).cleanup_lost(current_app.config, folder)
            except Exception:
                log.exception("could not clean up after a lost attempt", extra={"folder": str(folder)})
        release(folder)
        removed.append(folder.name)
        log.info("removed the folder of a lost job attempt", extra={"folder": str(folder)})
    return removed
