"""Attacks on the Jenkins boundary, performed: DNS rebinding of a controller's name, a controller naming
artifact paths outside the job's folder, a controller handing out javascript: links."""

from __future__ import annotations

import pytest

from taiji.platform import egress as kernel_egress
from tests.fakes.jenkins import FakeJenkins
from tests.modules.cicd.jenkins_helpers import TOKEN, drive, register


@pytest.fixture
def rebinding(app, ci_app, monkeypatch):
    """``localhost`` judged as 127.0.0.2 (the only allowed address); the system says 127.0.0.1,
    where an "internal" service listens on the same port."""
    allowed = FakeJenkins(users={"taiji": TOKEN}).start(host="127.0.0.2")
    internal = FakeJenkins(users={"taiji": TOKEN}).start(port=allowed.port, host="127.0.0.1")
    real = kernel_egress.resolve
    monkeypatch.setattr(
        kernel_egress,
        "resolve",
        lambda host: [kernel_egress.literal("127.0.0.2")] if host == "localhost" else real(host),
    )
    for application in (app, ci_app):
        monkeypatch.setitem(application.config, "CICD_JENKINS_ALLOWED_HOSTS", ("127.0.0.2",))
    yield allowed, internal
    allowed.stop()
    internal.stop()


def test_a_rebound_controller_name_reaches_only_the_address_judged(api_as, tenant, admin, rebinding):
    allowed, internal = rebinding
    api = api_as(admin)
    base = f"/api/v1/tenants/{tenant.slug}/cicd/jenkins/controllers"
    created = api.post(
        base,
        json={"name": "main", "url": f"http://localhost:{allowed.port}", "username": "taiji", "token": TOKEN},
    )
    assert created.status_code == 201, created.json
    answer = api.post(base + "/main/test").json
    assert answer["ok"], answer
    assert internal.requests == []
    assert allowed.requests and {r["headers"]["Host"] for r in allowed.requests} == {
        f"localhost:{allowed.port}"
    }


@pytest.mark.live
def test_a_rebound_controller_runs_the_job_only_at_the_address_judged(ci, rebinding):
    allowed, internal = rebinding
    register(ci, allowed, url=f"http://localhost:{allowed.port}")
    repo = ci.repo(
        {
            ".taiji.yml": "jobs:\n  j:\n    runner: jenkins\n    jenkins: {checkout: false}\n"
            "    script: [echo pinned]\n"
        }
    )
    state = drive(ci, ci.run(repo))
    job = state["jobs"]["j"]
    assert job["status"] == "success", ci.log(job["id"])
    assert internal.requests == [] and not internal.jobs
    assert allowed.generated()


@pytest.mark.live
@pytest.mark.parametrize("path", ["{data}/planted.txt", "dist/../../../escape.txt"])
def test_artifact_paths_the_controller_names_stay_inside_the_job(ci, fake, allow_loopback, path):
    from pathlib import Path

    data = Path(ci.app.config["DATA_DIR"])
    register(ci, fake)
    # An absolute path, or one climbing out: where a careless copy would write the controller's bytes.
    fake.extra_artifacts = {path.format(data=data): b"planted by the controller"}
    repo = ci.repo({".taiji.yml": "jobs:\n  j:\n    runner: jenkins\n    jenkins: {checkout: false}\n"
                                  "    script: [mkdir -p dist, echo ok > dist/ok.txt]\n"
                                  "    artifacts: {paths: ['**']}\n"})
    state = drive(ci, ci.run(repo))
    job = state["jobs"]["j"]
    planted = [p for p in data.rglob("*") if p.is_file() and p.read_bytes() == b"planted by the controller"]
    assert planted == []
    assert (job["status"], job["reason"]) == ("failed", "system")
    assert "named an artifact outside the job's folder" in ci.log(job["id"])


@pytest.mark.live
def test_a_javascript_link_from_the_controller_is_never_a_link_on_the_job_page(ci, fake, allow_loopback):
    from taiji.modules.cicd.jenkins.builds import latest_build
    from taiji.modules.cicd.models import Job
    from taiji.platform.db import db

    register(ci, fake)
    fake.build_url = "javascript:alert(document.cookie)//"
    repo = ci.repo(
        {
            ".taiji.yml": "jobs:\n  j:\n    runner: jenkins\n    jenkins: {checkout: false}\n"
            "    script: [echo x]\n"
        }
    )
    state = drive(ci, ci.run(repo))
    with ci.ctx():
        build = latest_build(db.session.get(Job, state["jobs"]["j"]["id"]))
        assert build.number == 1 and build.url is None
        db.session.remove()
