"""Live updates inside one process: topics, notices that leave only with a commit, the stream limits,
and a long log sent a page at a time. Streams served by `taiji web` are in test_live_streams.py."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

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


def test_without_redis_one_look_per_interval_serves_every_stream_of_a_topic(app, tenant, monkeypatch):
    """The embedded install: 50 streams of one job cost one query a poll interval, not 50, and a
    change made by another process (no notice reaches this one) still wakes all of them."""
    from taiji.modules.cicd import services
    from taiji.modules.cicd.models import Job

    job = _job(tenant)
    monkeypatch.setitem(app.config, "LIVE_POLL_SECONDS", 0.05)
    name = services.job_topic(job)
    poller = live.poller(app)
    looks = []

    def count(_conn, _cursor, statement, *_args):
        if threading.current_thread().name == "taiji-live-poller" and statement.startswith("SELECT"):
            looks.append(statement)

    subs = [live.hub().subscribe([name]) for _ in range(50)]
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert all(poller.watch([name]) for _ in subs)
        # The first look wakes them all: the job may have changed since their own first read.
        assert all(sub.wait(5) for sub in subs)
        looks.clear()
        time.sleep(0.5)
        # Nothing changed: nobody is woken, and the poller looked about once an interval.
        assert not any(sub.wait(0) for sub in subs)
        assert 2 <= len(looks) <= 15, looks

        # What a runner in another process does: its commit announces nothing here.
        db.session.execute(sa.update(Job).where(Job.id == job.id).values(log_size=Job.log_size + 3))
        db.session.commit()
        assert all(sub.wait(5) for sub in subs)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
        for sub in subs:
            poller.unwatch([name])
            live.hub().unsubscribe(sub)


def test_a_topic_no_probe_knows_is_not_watched(app, tenant):
    assert not live.poller(app).watch([live.topic(tenant, "test.unknown", 1)])


def _redis_url() -> str:
    url = os.environ.get("TAIJI_TEST_BROKER_URL", "")
    return url if url.startswith(("redis://", "rediss://")) else ""


@pytest.mark.skipif(not _redis_url(), reason="no Redis for the tests (TAIJI_TEST_BROKER_URL)")
def test_with_redis_a_users_stream_places_are_counted_across_processes_and_lapse(monkeypatch):
    """Two processes (two backends) share one user's places; a place its process stops renewing
    (the process died) comes back after LEASE_SECONDS."""
    monkeypatch.setattr(live, "LEASE_SECONDS", 1.0)
    one, two = live.RedisBackend(_redis_url()), live.RedisBackend(_redis_url())
    who = f"user:test-{uuid.uuid4().hex}"
    first, second = one.take(who, 2), two.take(who, 2)
    assert first and second
    assert one.take(who, 2) is False and two.take(who, 2) is False
    one.give_back(first)
    third = two.take(who, 2)
    assert third
    # `two` keeps renewing its places; `one` takes one more and then "dies" (never renews it).
    assert two.take(who, 2) is False
    two.give_back(third)
    orphan = one.take(who, 2)
    assert orphan
    start = time.monotonic()
    while time.monotonic() - start < 0.7:
        two.renew_leases(force=True)
        assert two.take(who, 2) is False  # both places still held
        time.sleep(0.15)
    while time.monotonic() - start < 1.5:
        two.renew_leases(force=True)
        time.sleep(0.15)
    # The orphan lapsed; the renewed place did not.
    assert two.take(who, 2)
    assert two.take(who, 2) is False
