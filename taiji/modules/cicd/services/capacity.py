"""Capacity: which tenant's job starts next, within a platform-wide cap and each tenant's quotas.

Jobs start here only, one pass at a time for the whole platform: a pass holds the scheduler lock
until its unit of work ends, counts the jobs active everywhere and fills the free slots of the cap
(``TAIJI_CICD_MAX_JOBS``). A free slot goes to the tenant with the fewest active jobs, the one
waiting longest among equals, never more than the tenant's own quota (``cicd.concurrent_jobs``): a
tenant with a hundred waiting jobs gets its share, and another tenant's first job starts at the
next free slot instead of after the hundred.

The cap is about the platform's own runners: a job of a remote runner (a build on the tenant's
Jenkins controller) takes no slot of it and starts even when the cap is reached, within the
tenant's quota, which counts every job.

Counting and starting under one lock is what keeps the cap: every change that adds an active job
(created -> pending) is made by a pass, so two passes never both see the same slot free. Changes
that remove one (a job finishing, canceled, lost) need no lock; a pass that runs before their
commit merely sees one slot less.

The longest time a job may run is a tenant quota too (``cicd.job_timeout_seconds``): a file asking
for more is refused when the pipeline is made; a job made before a lower limit was set is held to
that limit when it starts.
"""

from __future__ import annotations

import heapq
import logging
from collections import defaultdict, deque
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from taiji.platform import quotas
from taiji.platform.db import db, is_postgres
from taiji.platform.tenancy import Tenant

from .. import pipeline_file
from ..models import JOB_ACTIVE, Job, JobStatus, Pipeline, PipelineStatus
from . import scheduler

log = logging.getLogger("taiji.cicd")

JOB_TIME_QUOTA = "cicd.job_timeout_seconds"
DEFAULT_JOB_TIME = 3600
_OPEN = [PipelineStatus.CREATED.value, PipelineStatus.PENDING.value, PipelineStatus.RUNNING.value]
# One key for the whole platform (tenant 0 does not exist), derived like the quotas' keys.
LOCK_KEY = quotas.lock_key(0, "cicd.scheduler")
# Runners whose jobs run elsewhere (a Jenkins controller's executors), not in `taiji runner`.
REMOTE_RUNNERS = frozenset({"jenkins"})


def _longest_active_timeout(tenant) -> int:
    """The quota page's "used": the longest timeout among the tenant's jobs now running."""
    specs = db.session.execute(
        sa.select(Job.spec).where(Job.tenant_id == tenant.id, Job.status.in_([s.value for s in JOB_ACTIVE]))
    ).scalars()
    return max((int((spec or {}).get("timeout") or 0) for spec in specs), default=0)


# Registered by the module (Module.quota_meters).
JOB_TIME_METER = quotas.Meter(JOB_TIME_QUOTA, _l("Longest run time of a job"), DEFAULT_JOB_TIME,
                              _longest_active_timeout, unit="seconds")


def job_time_limit(tenant) -> int:
    """Seconds a job of ``tenant`` may run: its quota, within the file format's own maximum."""
    limit = quotas.limit_of(tenant, JOB_TIME_QUOTA)
    return pipeline_file.MAX_TIMEOUT if limit is None else min(limit, pipeline_file.MAX_TIMEOUT)


def lock() -> None:
    """Hold the platform's scheduler until the current unit of work ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the database's single writer (a write
    that changes nothing), taken before anything is counted, so the count cannot be overtaken.
    Callers take it before they change job rows, so that a pass (which changes rows of many
    pipelines) never waits for a row that a transaction waiting for the lock holds.
    """
    if is_postgres():
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
    else:
        db.session.execute(
            sa.update(Job).where(sa.false()).values(status=Job.status),
            execution_options={"synchronize_session": False},
        )


@dataclass
class _Waiting:
    tenant_id: int
    active: int
    limit: int | None
    pipelines: deque = field(default_factory=deque)

    def key(self) -> tuple[int, int, int]:
        # Fewest active jobs first; among equals, the tenant whose pipeline waits longest.
        return (self.active, self.pipelines[0], self.tenant_id)


def _active() -> tuple[dict[int, int], int]:
    """Active jobs per tenant (every runner), and those of the platform's own runners (the cap's)."""
    per_tenant: dict[int, int] = defaultdict(int)
    local = 0
    for tenant_id, runner, count in db.session.execute(
        sa.select(Job.tenant_id, Job.runner, sa.func.count())
        .where(Job.status.in_([s.value for s in JOB_ACTIVE]))
        .group_by(Job.tenant_id, Job.runner)
    ).all():
        per_tenant[tenant_id] += count
        if runner not in REMOTE_RUNNERS:
            local += count
    return per_tenant, local


def _waiting(active: dict[int, int], remote_only: bool) -> list[_Waiting]:
    """Tenants with jobs that wait (for their needs or a slot), each with its open pipelines, oldest
    first; ``remote_only``: only pipelines with a waiting job of a remote runner (the cap is full)."""
    stmt = (
        sa.select(Job.tenant_id, Job.pipeline_id)
        .join(Pipeline, Pipeline.id == Job.pipeline_id)
        .where(Job.status == JobStatus.CREATED.value, Pipeline.status.in_(_OPEN))
        .group_by(Job.tenant_id, Job.pipeline_id)
        .order_by(Job.pipeline_id)
    )
    if remote_only:
        stmt = stmt.where(Job.runner.in_(REMOTE_RUNNERS))
    rows = db.session.execute(stmt).all()
    tenants: dict[int, _Waiting] = {}
    for tenant_id, pipeline_id in rows:
        if tenant_id not in tenants:
            tenant = db.session.get(Tenant, tenant_id)
            tenants[tenant_id] = _Waiting(tenant_id, active.get(tenant_id, 0),
                                          quotas.limit_of(tenant, scheduler.QUOTA))
        tenants[tenant_id].pipelines.append(pipeline_id)
    return list(tenants.values())


def dispatch(first: Pipeline | None = None) -> list[Job]:
    """One scheduling pass: settle ``first`` (the pipeline that just changed), then start jobs in
    fair order until the platform's cap, or every waiting tenant's quota, is reached.

    Returns the jobs started (made pending); each goes to its runner after the commit.
    """
    lock()
    if first is not None:
        scheduler.advance(first, slots=0)  # skips and settles; starting is done below, in turn
    active, local = _active()
    free = current_app.config["CICD_MAX_JOBS"] - local
    started: list[Job] = []
    heap = [(w.key(), w) for w in _waiting(active, remote_only=free <= 0)]
    heapq.heapify(heap)
    refreshed: set[int] = set()

    def can_start(job: Job) -> bool:
        return free > 0 or job.runner in REMOTE_RUNNERS

    while heap:
        _, waiting = heapq.heappop(heap)
        if waiting.limit is not None and waiting.active >= waiting.limit:
            continue
        job = _start_one(waiting, refreshed, can_start)
        if job is None:
            continue
        started.append(job)
        waiting.active += 1
        if job.runner not in REMOTE_RUNNERS:
            free -= 1
        if waiting.pipelines:
            heapq.heappush(heap, (waiting.key(), waiting))
    return started


def _start_one(waiting: _Waiting, refreshed: set[int], can_start) -> Job | None:
    """Start the next startable job of the tenant's oldest pipeline that has one."""
    while waiting.pipelines:
        pipeline = db.session.get(Pipeline, waiting.pipelines[0])
        # Read each pipeline once per pass; the pass's own changes keep the objects current.
        now_started = scheduler.advance(pipeline, slots=1, refresh=pipeline.id not in refreshed,
                                        can_start=can_start)
        refreshed.add(pipeline.id)
        if now_started:
            _hold_to_job_time(now_started[0])
            return now_started[0]
        waiting.pipelines.popleft()
    return None


def _hold_to_job_time(job: Job) -> None:
    """A job made before its tenant's limit was lowered (or a retried pipeline's) runs no longer
    than the limit says now."""
    limit = job_time_limit(db.session.get(Tenant, job.tenant_id))
    asked = int(job.spec.get("timeout") or pipeline_file.DEFAULT_TIMEOUT)
    if asked <= limit:
        return
    from .logs import append_log

    job.spec = {**job.spec, "timeout": limit}
    append_log(
        job,
        f"\x1b[36mThis job asked for {pipeline_file.format_duration(asked)}; it may run at most "
        f"{pipeline_file.format_duration(limit)}, the tenant's longest job time.\x1b[0m\n",
    )
    db.session.flush()
