"""What starts a pipeline: vcs.push events (matched against `on.push`, once per pushed commit) and
the cron lines of `on.schedule`."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from taiji.modules.cicd import services
from taiji.modules.cicd.events import on_vcs_push
from taiji.modules.cicd.models import Schedule
from taiji.platform import events
from taiji.platform.db import db
from tests.modules.cicd.conftest import make_hosted

FILE = """
on:
  push: {branches: [main, "release/*"], tags: ["v*"]}
  schedule: ["0 3 * * *"]
jobs:
  test: {script: [echo test]}
"""


def _deliver(tenant, repository, ref, after):
    row = events.publish(
        "vcs.push",
        {
            "tenant": tenant.slug,
            "repository": repository,
            "ref": ref,
            "before": "0" * 40,
            "after": after,
            "pusher": {"id": 1, "email": "dev@example.com", "name": "Dev"},
            "commits": [],
        },
    )
    db.session.flush()
    return events.deliver(str(row.id), events.handler_name(on_vcs_push))


def _pipelines(tenant, repository="app"):
    return services.list_pipelines(tenant, repository=repository).items


def test_a_matching_push_starts_one_pipeline_however_often_it_is_delivered(tenant):
    sha = make_hosted(tenant, "app", {".taiji.yml": FILE})
    assert _deliver(tenant, "app", "refs/heads/main", sha)
    assert _deliver(tenant, "app", "refs/heads/main", sha)  # a second event for the same push
    [pipeline] = _pipelines(tenant)
    assert (pipeline.trigger, pipeline.ref, pipeline.sha) == ("push", "refs/heads/main", sha)
    assert pipeline.created_by_email == "dev@example.com"
    assert [j.status for j in pipeline.jobs] == ["pending"]


def test_refs_the_file_does_not_ask_for_start_nothing(tenant):
    sha = make_hosted(tenant, "app", {".taiji.yml": FILE})
    _deliver(tenant, "app", "refs/heads/feature/x", sha)
    _deliver(tenant, "app", "refs/tags/build-7", sha)
    _deliver(tenant, "app", "refs/heads/main", "0" * 40)  # a deleted branch
    assert _pipelines(tenant) == []
    _deliver(tenant, "app", "refs/tags/v1.0", sha)
    _deliver(tenant, "app", "refs/heads/release/2.0", sha)
    assert sorted(p.ref for p in _pipelines(tenant)) == ["refs/heads/release/2.0", "refs/tags/v1.0"]


def test_a_repository_without_the_file_is_ignored_and_a_broken_one_reports(tenant):
    plain = make_hosted(tenant, "plain", {"README.md": "hello"})
    _deliver(tenant, "plain", "refs/heads/main", plain)
    assert _pipelines(tenant, "plain") == []
    broken = make_hosted(tenant, "app", {".taiji.yml": "jobs:\n  a:\n    script: x\n    when: later\n"})
    _deliver(tenant, "app", "refs/heads/main", broken)
    [pipeline] = _pipelines(tenant)
    assert pipeline.status == "error" and pipeline.error.startswith(".taiji.yml: line 4:")
    assert pipeline.jobs == []


def test_schedules_follow_the_branch_file_and_run_once_when_due(tenant):
    sha = make_hosted(tenant, "app", {".taiji.yml": FILE})
    _deliver(tenant, "app", "refs/heads/main", sha)
    [row] = db.session.execute(sa.select(Schedule).where(Schedule.tenant_id == tenant.id)).scalars()
    assert (row.cron, row.ref) == ("0 3 * * *", "refs/heads/main")
    assert row.next_run_at.hour == 3 and row.next_run_at.minute == 0
    later = row.next_run_at + dt.timedelta(seconds=5)
    assert services.run_due_schedules(later) == 1
    assert services.run_due_schedules(later) == 0  # the next run is tomorrow
    scheduled = [p for p in _pipelines(tenant) if p.trigger == "schedule"]
    assert len(scheduled) == 1 and scheduled[0].sha == sha
    # The line removed from the file, the schedule goes with the next push.
    newer = make_hosted(tenant, "app", {".taiji.yml": FILE.replace('  schedule: ["0 3 * * *"]\n', "")})
    _deliver(tenant, "app", "refs/heads/main", newer)
    assert db.session.execute(sa.select(Schedule).where(Schedule.tenant_id == tenant.id)).first() is None


def test_jobs_beyond_the_tenants_quota_wait_for_a_slot(tenant):
    from taiji.platform import quotas

    quotas.set_limit(tenant, "cicd.concurrent_jobs", 2)
    jobs = "".join(f"  j{n}: {{script: [echo {n}]}}\n" for n in range(5))
    make_hosted(tenant, "wide", {".taiji.yml": "jobs:\n" + jobs})
    pipeline = services.run_pipeline(tenant, "wide", "main")
    assert sorted(j.status for j in pipeline.jobs) == ["created", "created", "created", "pending", "pending"]
    services.cancel_job(tenant, next(j.id for j in pipeline.jobs if j.status == "pending"))
    db.session.refresh(pipeline)
    assert sorted(j.status for j in pipeline.jobs) == ["canceled", "created", "created", "pending", "pending"]


def _laughs_pipeline_file() -> str:
    from tests.platform.test_safeyaml import billion_laughs

    return billion_laughs() + "jobs:\n  t: {script: [echo hi]}\n"


def test_a_billion_laughs_pipeline_file_is_refused_without_expanding():
    # The worker's own parse, in a child process held to 512 MiB and 30 s of CPU: expanding the
    # aliases would die of MemoryError or SIGXCPU; refusing them answers at once.
    from tests.confined import run_confined

    done = run_confined("""
        import sys
        from taiji.modules.cicd import pipeline_file
        print(pipeline_file.parse(sys.stdin.read()).message)
        """, stdin=_laughs_pipeline_file().encode(), memory_mb=512, cpu_seconds=30)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().startswith(
        ".taiji.yml: line 1, column 4: YAML anchors and aliases ('&a', '*a') are not accepted here")


def test_a_pushed_yaml_bomb_reports_a_pipeline_error_and_the_next_push_still_runs(tenant):
    from tests.platform.test_safeyaml import deep_nesting

    bomb = make_hosted(tenant, "app", {".taiji.yml": _laughs_pipeline_file()})
    _deliver(tenant, "app", "refs/heads/main", bomb)
    [refused] = _pipelines(tenant)
    assert refused.status == "error" and refused.jobs == []
    assert refused.error.startswith(".taiji.yml: line 1, column 4: YAML anchors and aliases")
    assert "write the repeated part out in full" in refused.error
    deep = make_hosted(tenant, "app", {".taiji.yml": deep_nesting() + "jobs:\n  t: {script: [echo hi]}\n"})
    _deliver(tenant, "app", "refs/heads/main", deep)
    assert "nested more than 32 levels deep" in _pipelines(tenant)[0].error
    good = make_hosted(tenant, "app", {".taiji.yml": FILE})
    _deliver(tenant, "app", "refs/heads/main", good)
    latest = _pipelines(tenant)[0]
    assert (latest.sha, latest.status, [j.status for j in latest.jobs]) == (good, "pending", ["pending"])
