"""A real pipeline's outcome reaches VCS's commit statuses (what merge requests decide by)."""

from __future__ import annotations

import sqlalchemy as sa


def _deliver_pipeline_events(ci) -> None:
    from taiji.modules.vcs.events import on_pipeline
    from taiji.platform import events
    from taiji.platform.db import db
    from taiji.platform.events import OutboxEvent

    with ci.ctx():
        rows = db.session.execute(sa.select(OutboxEvent).where(OutboxEvent.name.like("cicd.pipeline.%"))
                                  .order_by(OutboxEvent.created_at)).scalars().all()
        ids = [str(row.id) for row in rows]
        db.session.commit()
        for event_id in ids:
            events.deliver(event_id, events.handler_name(on_pipeline))
            db.session.commit()


def test_a_pipeline_that_passes_makes_its_commit_green(ci):
    from taiji.modules.cicd import services as cicd
    from taiji.modules.vcs import services as vcs

    repo = ci.repo({".taiji.yml": "jobs:\n  test:\n    script: ['true']\n"})
    pipeline_id = ci.run(repo)
    assert ci.drive(pipeline_id)["status"] == "success"
    _deliver_pipeline_events(ci)
    with ci.ctx():
        tenant = ci.tenant()
        sha = cicd.get_pipeline(tenant, pipeline_id).sha
        got = vcs.commit_statuses(tenant.id, repo, [sha])
    assert got[sha]["status"] == "succeeded"  # green: what a merge rule requiring it decides by
