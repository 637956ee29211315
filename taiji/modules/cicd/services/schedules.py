"""Scheduled pipelines: the cron lines of a branch's `.taiji.yml`, remembered when it is pushed.

Tenants have no time zone setting yet, so cron lines are evaluated in UTC (docs say so).
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from croniter import croniter

from taiji.platform.db import db, utcnow
from taiji.platform.tenancy import Tenant

from ..models import Schedule, Trigger

log = logging.getLogger("taiji.cicd")


def _next(cron: str, after: dt.datetime) -> dt.datetime:
    return croniter(cron, after).get_next(dt.datetime).astimezone(dt.UTC)


def sync(tenant, repository: str, ref: str, config: dict) -> None:
    """Make the branch's schedules match its file: new lines added, removed ones dropped."""
    if not ref.startswith("refs/heads/"):
        return
    wanted = set(config["on"]["schedule"])
    rows = list(
        db.session.execute(
            sa.select(Schedule).where(
                Schedule.tenant_id == tenant.id, Schedule.repository == repository, Schedule.ref == ref
            )
        ).scalars()
    )
    for row in rows:
        if row.cron not in wanted:
            db.session.delete(row)
    have = {row.cron for row in rows}
    now = utcnow()
    for cron in sorted(wanted - have):
        db.session.add(
            Schedule(
                tenant_id=tenant.id, repository=repository, ref=ref, cron=cron, next_run_at=_next(cron, now)
            )
        )
    db.session.flush()


def run_due(now: dt.datetime | None = None) -> int:
    """Start the pipelines whose schedule is due (the beat task, every minute). Returns how many."""
    from .pipelines import run_pipeline

    now = now or utcnow()
    due = list(
        db.session.execute(
            sa.select(Schedule).where(Schedule.next_run_at <= now).order_by(Schedule.next_run_at).limit(200)
        ).scalars()
    )
    started = 0
    for row in due:
        # Claim the run first: another scheduler instance seeing the same row skips it.
        claimed = db.session.execute(
            sa.update(Schedule)
            .where(Schedule.id == row.id, Schedule.next_run_at == row.next_run_at)
            .values(next_run_at=_next(row.cron, now), last_run_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            continue
        tenant = db.session.get(Tenant, row.tenant_id)
        try:
            with db.session.begin_nested():
                pipeline = run_pipeline(tenant, row.repository, row.ref, trigger=Trigger.SCHEDULE)
                row.last_pipeline_id = pipeline.id
            started += 1
        except Exception:
            log.warning(
                "scheduled pipeline could not start",
                exc_info=True,
                extra={"repository": row.repository, "ref": row.ref, "cron": row.cron},
            )
    db.session.flush()
    return started
