"""What a lost attempt may have left running on this host, stopped before its retry starts.

Every process of a job carries the job's identity in its environment (``TAIJI_JOB_ID``,
``TAIJI_JOB_ATTEMPT``, the pipeline, tenant and commit: set by the runner for each line, above
anything the file sets, and inherited by everything a line starts, in a sandbox or a container as
on the host: the kernel shows their environments in ``/proc``). All of them together tell one
install's job from another install's job of the same number on a shared host.
When a worker dies mid-job, the reaper kills whatever still carries the lost attempt's identity
on its host and waits until none is left, so that a retry never runs next to the attempt it
replaces (a deploy must not run twice at once).

This is the reaper's check on top of the executors' own guarantee (a job's processes die with the
worker that ran it): it also catches a process that left its group or session on the host runner.
It cannot see another host's processes; there the executors' guarantee and the runner's own stop
after a silence (``builtin._beat``) hold.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger("taiji.cicd.runner")

PROC = Path("/proc")


def identity(job, attempt: int, tenant_slug: str) -> tuple[bytes, ...]:
    """The environment entries that every process of this attempt of ``job`` carries."""
    return tuple(
        f"{name}={value}".encode()
        for name, value in (
            ("TAIJI_JOB_ID", job.id),
            ("TAIJI_JOB_ATTEMPT", attempt),
            ("TAIJI_PIPELINE_ID", job.pipeline_id),
            ("TAIJI_TENANT", tenant_slug),
            ("TAIJI_COMMIT_SHA", job.pipeline.sha),
        )
    )


def _carries(pid: int, needles: tuple[bytes, ...]) -> bool:
    try:
        entries = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:  # gone, a kernel thread, or not ours to read
        return False
    return all(needle in entries for needle in needles)


def find(needles: tuple[bytes, ...]) -> list[int]:
    """Processes on this host whose environment carries every one of ``needles``."""
    if not PROC.is_dir():
        return []
    me = os.getpid()
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and int(entry.name) != me and _carries(int(entry.name), needles):
            found.append(int(entry.name))
    return found


def stop_lost_attempt(job, attempt: int) -> bool:
    """Kill what the lost ``attempt`` of ``job`` left running on this host; True once nothing of it
    runs here any more (the reaper retries only then)."""
    import sqlalchemy as sa

    from taiji.platform.db import db
    from taiji.platform.tenancy import Tenant

    slug = db.session.execute(sa.select(Tenant.slug).where(Tenant.id == job.tenant_id)).scalar_one()
    return not stop(identity(job, attempt, slug))


def stop(needles: tuple[bytes, ...], timeout: float = 10.0) -> list[int]:
    """SIGKILL every process of an attempt (its ``identity``) on this host until none is left.
    Returns the ones still there after ``timeout`` seconds (empty: the attempt is over here)."""
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    while True:
        pids = find(needles)
        if not pids:
            if killed:
                log.warning("stopped processes a lost attempt left running",
                            extra={"identity": b" ".join(needles[:2]).decode(), "pids": sorted(killed)})
            return []
        if time.monotonic() > deadline:
            return pids
        for pid in pids:
            # A killed process stays a zombie until its parent collects it; its environment is then
            # empty, so it no longer counts.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.05)
