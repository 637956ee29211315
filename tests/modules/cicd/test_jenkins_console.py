"""The console's Jenkins pages: register, test, list jobs with last builds, trigger; a repository's
default runner; the same pages in Simplified Chinese."""

from __future__ import annotations

import time

import pytest

from tests.factories import make_member
from tests.fakes.jenkins import FakeJenkins

TOKEN = "api-token-1"


@pytest.fixture
def jenkins():
    with FakeJenkins(users={"taiji": TOKEN}) as server:
        yield server


def _register(client, tenant, jenkins, **extra):
    data = {"name": "main", "url": jenkins.url, "username": "taiji", "token": TOKEN, **extra}
    return client.post(f"/t/{tenant.slug}/pipelines/jenkins", data=data)


def test_register_test_and_see_the_jobs_of_a_controller(login, admin, tenant, jenkins):
    from taiji.modules.cicd.jenkins import controllers

    client = login(admin)
    page = client.get(f"/t/{tenant.slug}/pipelines/jenkins").get_data(as_text=True)
    assert "No Jenkins controller yet" in page and 'data-testid="controller-form"' in page
    response = _register(client, tenant, jenkins)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/t/{tenant.slug}/pipelines/jenkins/main")
    listing = client.get(f"/t/{tenant.slug}/pipelines/jenkins").get_data(as_text=True)
    assert 'data-name="main"' in listing and TOKEN not in listing
    tested = client.post(f"/t/{tenant.slug}/pipelines/jenkins/main/test", follow_redirects=True)
    assert "Connected to Jenkins 2.440.3 as taiji." in tested.get_data(as_text=True)
    jenkins.add_job("deploy", ["echo deployed $WHERE"])
    jobs = client.get(f"/t/{tenant.slug}/pipelines/jenkins/main/jobs").get_data(as_text=True)
    assert 'data-name="deploy"' in jobs and "never built" in jobs
    queued = client.post(
        f"/t/{tenant.slug}/pipelines/jenkins/main/jobs/deploy/build",
        data={"parameters": "WHERE=staging"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Jenkins queued deploy (queue item 100)." in queued
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        not jenkins.jobs["deploy"].builds or jenkins.build_of("deploy").building
    ):
        time.sleep(0.1)
    assert b"deployed staging" in jenkins.build_of("deploy").log
    jobs = client.get(f"/t/{tenant.slug}/pipelines/jenkins/main/jobs").get_data(as_text=True)
    assert "#1" in jobs and "SUCCESS" in jobs
    assert controllers.get_controller(tenant, "main").username == "taiji"


def test_a_refused_url_and_bad_input_are_form_errors_that_change_nothing(
    app, login, admin, tenant, jenkins, monkeypatch
):
    from taiji.modules.cicd.jenkins import controllers

    client = login(admin)
    monkeypatch.setitem(app.config, "CICD_JENKINS_ALLOWED_HOSTS", ())
    refused = _register(client, tenant, jenkins)
    assert refused.status_code == 422
    assert "TAIJI_CICD_JENKINS_ALLOWED_HOSTS" in refused.get_data(as_text=True)
    bad = _register(client, tenant, jenkins, name="Bad Name", url="ftp://x")
    assert bad.status_code == 422 and "Lower-case letters" in bad.get_data(as_text=True)
    no_token = _register(client, tenant, jenkins, token="")
    assert no_token.status_code == 422
    assert controllers.list_controllers(tenant) == []
    assert not jenkins.requests


def test_an_unreachable_controller_says_so_on_its_page(login, admin, tenant, jenkins):
    client = login(admin)
    _register(client, tenant, jenkins)
    jenkins.down()
    jobs = client.get(f"/t/{tenant.slug}/pipelines/jenkins/main/jobs").get_data(as_text=True)
    assert "cannot be reached (the connection was refused)" in jobs
    tested = client.post(f"/t/{tenant.slug}/pipelines/jenkins/main/test", follow_redirects=True)
    assert "cannot be reached" in tested.get_data(as_text=True)


def test_an_unreachable_controller_says_so_in_chinese(login, admin, tenant, jenkins):
    client = login(admin)
    _register(client, tenant, jenkins)
    jenkins.down()
    client.post("/locale", data={"locale": "zh_Hans"})
    jobs = client.get(f"/t/{tenant.slug}/pipelines/jenkins/main/jobs").get_data(as_text=True)
    assert "无法连接位于" in jobs and "Jenkins 控制器“main”" in jobs and "连接被拒绝" in jobs
    assert "cannot be reached" not in jobs


def test_change_keeps_the_token_and_remove(login, admin, tenant, jenkins):
    from taiji.modules.cicd.jenkins import controllers

    client = login(admin)
    _register(client, tenant, jenkins)
    response = client.post(
        f"/t/{tenant.slug}/pipelines/jenkins/main",
        data={"url": jenkins.url, "username": "taiji", "description": "farm", "token": ""},
    )
    assert response.status_code == 302
    row = controllers.get_controller(tenant, "main")
    assert row.description == "farm" and controllers.handle(row).token == TOKEN
    assert client.post(f"/t/{tenant.slug}/pipelines/jenkins/main/delete").status_code == 302
    assert controllers.list_controllers(tenant) == []


def test_members_see_controllers_but_cannot_manage_them(client, login, admin, tenant, jenkins):
    _register(login(admin), tenant, jenkins)
    login(make_member(tenant, "member"))
    page = client.get(f"/t/{tenant.slug}/pipelines/jenkins/main").get_data(as_text=True)
    assert "controller-edit" not in page and "controller-test" not in page
    assert client.post(f"/t/{tenant.slug}/pipelines/jenkins/main/test").status_code == 403
    assert client.post(f"/t/{tenant.slug}/pipelines/jenkins/main/delete").status_code == 403
    assert _register(client, tenant, jenkins, name="other").status_code == 403


def test_the_default_runner_of_a_repository(login, admin, tenant, jenkins):
    from taiji.modules.cicd.services import runner_settings
    from tests.modules.cicd.conftest import make_hosted

    make_hosted(tenant, "svc", {"README": "x"})
    client = login(admin)
    pipelines = client.get(f"/t/{tenant.slug}/repositories/svc/pipelines").get_data(as_text=True)
    assert f"/t/{tenant.slug}/repositories/svc/pipelines/settings" in pipelines
    url = f"/t/{tenant.slug}/repositories/svc/pipelines/settings"
    assert 'data-testid="runner-form"' in client.get(url).get_data(as_text=True)
    refused = client.post(url, data={"default_runner": "jenkins", "jenkins_controller": "ghost"})
    assert refused.status_code == 422 and "No Jenkins controller" in refused.get_data(as_text=True)
    _register(client, tenant, jenkins)
    assert (
        client.post(url, data={"default_runner": "jenkins", "jenkins_controller": "main"}).status_code == 302
    )
    settings = runner_settings.get_settings(tenant, "svc")
    assert (settings.default_runner, settings.jenkins_controller) == ("jenkins", "main")
    assert client.post(url, data={"default_runner": "docker-ish"}).status_code == 422
    assert client.get(f"/t/{tenant.slug}/repositories/nowhere/pipelines/settings").status_code == 404


def test_the_pages_speak_chinese(login, admin, tenant, jenkins):
    client = login(admin)
    client.post("/locale", data={"locale": "zh_Hans"})
    page = client.get(f"/t/{tenant.slug}/pipelines/jenkins").get_data(as_text=True)
    assert "Jenkins 控制器" in page and "注册控制器" in page
    _register(client, tenant, jenkins)
    item = client.get(f"/t/{tenant.slug}/pipelines/jenkins/main").get_data(as_text=True)
    assert "测试连接" in item


def test_the_job_page_links_the_jenkins_build(login, admin, tenant):
    from taiji.modules.cicd import services
    from taiji.modules.cicd.jenkins.models import JenkinsBuild
    from taiji.platform.db import db, utcnow
    from tests.modules.cicd.conftest import make_hosted

    make_hosted(tenant, "svc", {".taiji.yml": "jobs:\n  j:\n    runner: jenkins\n    script: [echo x]\n"})
    job = services.run_pipeline(tenant, "svc", "main").jobs[0]
    assert job.runner == "jenkins"
    db.session.add(
        JenkinsBuild(
            tenant_id=tenant.id,
            job_id=job.id,
            attempt=job.attempt,
            controller_name="farm",
            item="taiji-x",
            queue_id=7,
            number=3,
            url="https://jenkins.example.com/job/taiji-x/3/",
            log_offset=0,
            done=False,
            created_at=utcnow(),
        )
    )
    db.session.flush()
    page = login(admin).get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert 'href="https://jenkins.example.com/job/taiji-x/3/"' in page and "Jenkins build #3" in page
