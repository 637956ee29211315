"""The example module's Celery task (scheduled by Module.periodic)."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import db
from taiji.platform.tasks import celery

from . import services


@celery.task(name="example.count_notes", acks_late=True)
def count_notes() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(services.notes)).scalar_one()
