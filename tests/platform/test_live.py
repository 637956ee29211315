"""Live updates inside one process: topics, notices that leave only with a commit, the stream limits,
and a long log sent a page at a time. Streams served by `taiji web` are in test_live_streams.py."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from taiji.platform import live
from taiji.platform.db import db
from tests.modules.cicd.conftest import make_hosted

PIPELINE_FILE = "jobs:\n  build:\n    script: [echo build]\n"


def test_topics_are_tenant_scoped_and_built_from_names_and_ids(tenant):
    assert live.topic(tenant, "cicd.job", 42) == f"t{tenant.id}:cicd.job:42"
    for bad in ("a:b", "*", "job 1", "", "UPPER", True, None, 1.5):
        with pytest.raises(ValueError):
            live.topic(tenant, "cicd.job", bad)
    with pytest.raises(ValueError):
        live.topic(None, "cicd.job", 1)


def test_a_notice_leaves_with_the_commit_and_never_with_a_rollback(app, tenant):
    name = live.topic(tenant, "test.thing", 1)
    sub = live.hub().subscribe([name])
    try:
        db.session.execute(sa.text("SELECT 1"))  # a unit of work under way, as a change makes one
        live.publish(name, {"n": 1})
        assert not sub.wait(0)  # not before the commit
        db.session.rollback()
        db.session.commit()
        assert not sub.wait(0)  # the rolled-back one is gone
        live.publish(name, {"n": 2})
        live.publish(name, {"n": 3})
        db.session.commit()
        assert sub.wait(0)
        assert not sub.wait(0)  # coalesced: one wake-up, not a queue
    finally:
        live.hub().unsubscribe(sub)


def _job(tenant):
    from taiji.modules.cicd import services

    make_hosted(tenant, "app", {".taiji.yml": PIPELINE_FILE})
    pipeline = services.run_pipeline(tenant, "app", "main")
    db.session.commit()
    return pipeline.jobs[0]


def test_streams_over_the_limits_are_refused_until_one_closes(app, api_as, admin, tenant, monkeypatch):
    job = _job(tenant)
    api = api_as(admin)
    url = f"/t/{tenant.slug}/jobs/{job.id}/live"
    monkeypatch.setitem(app.config, "LIVE_MAX_STREAMS_PER_USER", 1)
    first = api.get(url, buffered=False)
    assert first.status_code == 200
    refused = api.get(url)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] and refused.mimetype == "application/problem+json"
    first.close()  # the slot comes back with the connection
    again = api.get(url, buffered=False)
    assert again.status_code == 200

    monkeypatch.setitem(app.config, "LIVE_MAX_STREAMS_PER_USER", 10)
    monkeypatch.setitem(app.config, "LIVE_MAX_STREAMS", 1)
    busy = api.get(url)
    assert busy.status_code == 503 and busy.json["status"] == 503
    again.close()
    assert live.hub().open_streams() == 0


def test_a_long_log_arrives_a_page_at_a_time_and_the_stream_ends_with_the_job(app, api_as, admin, tenant):
    from taiji.modules.cicd import services
    from taiji.modules.cicd.models import JobStatus
    from taiji.modules.cicd.services import scheduler

    job = _job(tenant)
    text = "".join(f"line {n:06d} ✓\n" for n in range(12_000))  # ~190 KB: several pages
    services.append_log(job, text)
    assert scheduler.transition(job, [JobStatus.CREATED, JobStatus.PENDING], status=JobStatus.SUCCESS.value)
    db.session.commit()

    response = api_as(admin).get(f"/t/{tenant.slug}/jobs/{job.id}/live", buffered=False)
    body = b"".join(response.response).decode()
    response.close()
    events = []
    for block in body.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(("retry", ":"))]
        fields = dict(line.split(": ", 1) for line in lines)
        if fields:
            events.append(fields)
    logs = [e for e in events if e.get("event") == "log"]
    assert len(logs) > 2
    assert "".join(json.loads(e["data"])["text"] for e in logs) == text
    assert logs[-1]["id"] == str(len(text.encode()))
    assert [e["event"] for e in events][-1] == "end"
    assert json.loads(events[0]["data"]) == {"status": "success", "done": True}
