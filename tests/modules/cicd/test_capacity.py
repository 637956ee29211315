"""The platform-wide cap on jobs at once, against scheduling passes racing each other on a committed
database, and the tenant's longest job time enforced on a running job."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.live

JOBS = "".join(f"  j{n}:\n    script: [echo {n}]\n" for n in range(5))


def _active(app) -> dict[str, int]:
    from taiji.modules.cicd.models import Job
    from taiji.platform.db import db
    from taiji.platform.tenancy import Tenant

    with app.app_context():
        rows = db.session.execute(
            sa.select(Tenant.slug, sa.func.count())
            .join(Job, Job.tenant_id == Tenant.id)
            .where(Job.status.in_(["pending", "running"]))
            .group_by(Tenant.slug)
        ).all()
        db.session.remove()
    return dict(rows)


def test_scheduling_passes_racing_each_other_never_start_more_than_the_cap(ci_app):
    from sqlalchemy.exc import OperationalError

    from taiji.modules.cicd import services
    from taiji.modules.cicd.services import capacity
    from taiji.platform import quotas
    from taiji.platform.db import db
    from tests.factories import make_tenant, make_user
    from tests.modules.cicd.conftest import make_hosted

    cap = ci_app.config["CICD_MAX_JOBS"]
    slugs = []
    try:
        # Nothing may start while the pipelines are made: every job waits for a slot.
        ci_app.config["CICD_MAX_JOBS"] = 0
        with ci_app.app_context():
            for _ in range(4):
                tenant = make_tenant(owner=make_user(email=f"cap-{uuid.uuid4().hex[:8]}@example.com"))
                quotas.set_limit(tenant, "cicd.concurrent_jobs", 10)
                make_hosted(tenant, "svc", {".taiji.yml": "jobs:\n" + JOBS})
                services.run_pipeline(tenant, "svc", "main")
                slugs.append(tenant.slug)
                db.session.commit()
            db.session.remove()
        assert not set(_active(ci_app)) & set(slugs)
        ci_app.config["CICD_MAX_JOBS"] = 5 + sum(_active(ci_app).values())
        passes = 8
        barrier = threading.Barrier(passes)
        errors = []

        def one_pass():
            with ci_app.app_context():
                barrier.wait()
                try:
                    for _ in range(50):
                        try:
                            capacity.dispatch()
                            db.session.commit()
                            return
                        except OperationalError:  # SQLite: another pass is the writer; again
                            db.session.rollback()
                            time.sleep(0.02)
                except Exception as exc:  # shown by the assertion below
                    errors.append(exc)
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=one_pass) for _ in range(passes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        ours = {slug: count for slug, count in _active(ci_app).items() if slug in slugs}
        assert sum(ours.values()) == 5, ours
        # Five slots over four tenants: one each, then one more; never two more for one tenant.
        assert sorted(ours.values()) == [1, 1, 1, 2], ours
    finally:
        ci_app.config["CICD_MAX_JOBS"] = cap
        from taiji.platform.tenancy import tenant_by_slug

        with ci_app.app_context():
            for slug in slugs:
                tenant = tenant_by_slug(slug)
                for pipeline in services.list_pipelines(tenant).items:
                    services.cancel_pipeline(tenant, pipeline.id)
            db.session.commit()
            db.session.remove()


def test_a_job_runs_no_longer_than_its_tenants_longest_job_time(ci):
    from taiji.platform import quotas

    def limit(tenant):
        quotas.set_limit(tenant, "cicd.job_timeout_seconds", 3)

    ci.call(limit)
    repo = ci.repo({".taiji.yml": "jobs:\n  endless:\n    script: [echo started, sleep 120]\n"})
    began = time.monotonic()
    state = ci.drive(ci.run(repo), timeout=60)
    assert time.monotonic() - began < 45
    job = state["jobs"]["endless"]
    assert (state["status"], job["status"], job["reason"]) == ("failed", "failed", "timeout")
    assert "longer than its timeout (3s)" in ci.log(job["id"])


def test_a_remote_runners_job_takes_no_slot_of_the_platforms_cap(ci_app):
    """A build on the tenant's Jenkins controller uses none of the platform's runners: it starts
    though the cap is reached (the tenant's quota still counts it)."""
    from taiji.modules.cicd import services
    from taiji.modules.cicd.models import Job
    from taiji.modules.cicd.services import capacity
    from taiji.platform.db import db
    from tests.factories import make_tenant, make_user
    from tests.modules.cicd.conftest import make_hosted

    cap = ci_app.config["CICD_MAX_JOBS"]
    try:
        ci_app.config["CICD_MAX_JOBS"] = 0  # the platform's runners are all taken
        with ci_app.app_context():
            tenant = make_tenant(owner=make_user(email=f"remote-{uuid.uuid4().hex[:8]}@example.com"))
            make_hosted(tenant, "svc", {".taiji.yml": "jobs:\n  here:\n    script: [echo]\n"
                                                      "  there:\n    script: [echo]\n"})
            pipeline = services.run_pipeline(tenant, "svc", "main")
            db.session.commit()
            assert {j.name: j.status for j in pipeline.jobs} == {"here": "created", "there": "created"}
            # What a file's `runner: jenkins` (or the repository's default runner) makes.
            db.session.execute(sa.update(Job).where(Job.pipeline_id == pipeline.id, Job.name == "there")
                               .values(runner="jenkins"))
            db.session.commit()
            capacity.dispatch()
            db.session.commit()
            db.session.refresh(pipeline)
            states = {j.name: j.status for j in pipeline.jobs}
            services.cancel_pipeline(tenant, pipeline.id)
            db.session.commit()
            db.session.remove()
        assert states == {"here": "created", "there": "pending"}
    finally:
        ci_app.config["CICD_MAX_JOBS"] = cap
