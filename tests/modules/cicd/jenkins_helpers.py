"""Driving Jenkins jobs in tests as the worker would: dispatch what is pending, poll what is open."""

from __future__ import annotations

import time

import pytest

from tests.fakes.event_probe import wait_for
from tests.fakes.jenkins import FakeJenkins

__all__ = ["wait_for"]  # the suite's one polling helper, for the Jenkins tests too

TOKEN = "api-token-1"
DONE = ("success", "failed", "canceled", "error")
# A script line that waits, quietly, until the test lets the build go on with ``release``: a build
# that is surely still running while the test looks at it, and for no longer than the test needs.
WAIT_FOR_RELEASE = "set +x; while [ ! -e release ]; do sleep 0.05; done"


def release(fake, build) -> None:
    """Let a build waiting at WAIT_FOR_RELEASE go on."""
    (fake.workspace(build) / "release").touch()


@pytest.fixture
def allow_loopback(ci_app):
    """The fake controller listens on loopback, which the egress policy refuses unless listed."""
    previous = ci_app.config.get("CICD_JENKINS_ALLOWED_HOSTS")
    ci_app.config["CICD_JENKINS_ALLOWED_HOSTS"] = ("127.0.0.1",)
    yield
    ci_app.config["CICD_JENKINS_ALLOWED_HOSTS"] = previous


@pytest.fixture
def fake():
    with FakeJenkins(users={"taiji": TOKEN}) as server:
        yield server


def register(ci, fake, name: str = "main", **extra) -> None:
    from taiji.modules.cicd.jenkins import controllers

    data = {"name": name, "url": fake.url, "username": "taiji", "token": TOKEN, **extra}
    ci.call(lambda tenant: controllers.create_controller(tenant, data) and None)


def dispatch_pending(ci) -> list[str]:
    """Hand the tenant's pending Jenkins jobs over, as the cicd.jenkins_dispatch task does."""
    import sqlalchemy as sa

    from taiji.modules.cicd.jenkins.builds import dispatch
    from taiji.modules.cicd.jenkins.models import JenkinsBuild
    from taiji.modules.cicd.models import Job
    from taiji.platform.db import db

    outcomes = []
    with ci.ctx():
        try:
            rows = db.session.execute(
                sa.select(Job.id, Job.attempt)
                .outerjoin(
                    JenkinsBuild, sa.and_(JenkinsBuild.job_id == Job.id, JenkinsBuild.attempt == Job.attempt)
                )
                .where(
                    Job.status == "pending",
                    Job.runner == "jenkins",
                    JenkinsBuild.id.is_(None),
                    Job.tenant_id == ci.tenant().id,
                )
            ).all()
            db.session.commit()
            for job_id, attempt in rows:
                outcomes.append(dispatch(job_id, attempt))
                db.session.commit()
        finally:
            db.session.remove()
    return outcomes


def poll(ci) -> int:
    from taiji.modules.cicd.jenkins.follow import follow_all
    from taiji.platform.db import db

    with ci.ctx():
        try:
            polled = follow_all()
            db.session.commit()
            return polled
        finally:
            db.session.remove()


def drive(ci, pipeline_id: int, *, until=None, timeout: float = 30, pause: float = 0.1) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dispatch_pending(ci)
        poll(ci)
        state = ci.pipeline(pipeline_id)
        if until(state) if until else state["status"] in DONE:
            return state
        time.sleep(pause)
    raise AssertionError(
        f"pipeline {pipeline_id} did not get there in {timeout}s: {ci.pipeline(pipeline_id)}"
    )


def build_row(ci, job_id: int):
    import sqlalchemy as sa

    from taiji.modules.cicd.jenkins.models import JenkinsBuild
    from taiji.platform.db import db

    with ci.ctx():
        try:
            row = (
                db.session.execute(
                    sa.select(JenkinsBuild)
                    .where(JenkinsBuild.job_id == job_id)
                    .order_by(JenkinsBuild.id.desc())
                )
                .scalars()
                .first()
            )
            db.session.expunge_all()
            return row
        finally:
            db.session.remove()
