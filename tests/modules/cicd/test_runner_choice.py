"""Choosing where jobs run: `runner:`/`image:` per job, `default:` for the file, the platform's
TAIJI_CICD_RUNNER (auto, sandbox, docker, host), and what the console and API say about it."""

from __future__ import annotations

import pytest

from taiji.modules.cicd import pipeline_file as pf
from taiji.modules.cicd import services
from tests.modules.cicd.conftest import make_hosted

from .test_console import make_pipeline

MIXED = "jobs:\n  a: {script: x}\n  b:\n    script: y\n    runner: sandbox\n"


def test_default_gives_every_job_its_runner_and_image_unless_the_job_says_otherwise():
    result = pf.parse(
        "default: {runner: docker, image: python:3.12}\n"
        "jobs:\n  a: {script: x}\n  b:\n    script: y\n    runner: sandbox\n    image: debian:12\n"
    )
    assert result.ok, result.message
    jobs = result.config["jobs"]
    assert (jobs["a"]["runner"], jobs["a"]["image"]) == ("docker", "python:3.12")
    assert (jobs["b"]["runner"], jobs["b"]["image"]) == ("sandbox", "debian:12")
    bare = pf.parse("jobs:\n  a: {script: x}\n").config["jobs"]["a"]
    assert (bare["runner"], bare["image"]) == (None, None)
    # What a file could say before runners were chosen still means "the platform's default".
    legacy = pf.parse("jobs:\n  a:\n    script: x\n    runner: builtin\n")
    assert legacy.ok and legacy.config["jobs"]["a"]["runner"] is None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("jobs:\n  a:\n    script: x\n    runner: k8s\n", 4, "job 'a': runner 'k8s' is not available"),
        ("default:\n  runner: vm\njobs:\n  a: {script: x}\n", 2, "default: runner 'vm' is not available"),
        ("default:\n  imag: x\njobs:\n  a: {script: x}\n", 2, "unknown key 'imag'"),
        ("jobs:\n  a:\n    script: x\n    image: ''\n", 4, "image must not be empty"),
    ],
)
def test_an_unknown_runner_is_a_file_error_with_its_line(text, line, message):
    result = pf.parse(text)
    assert not result.ok
    assert f"line {line}" in result.message and message in result.message, result.message


def test_host_is_refused_unless_the_administrator_made_it_the_platforms_runner(app, tenant, monkeypatch):
    text = "jobs:\n  build:\n    script: [make]\n    runner: host\n"
    monkeypatch.setitem(app.config, "CICD_RUNNER", "sandbox")
    refused = make_pipeline(tenant, text=text)
    assert refused.status == "error" and refused.jobs == []
    assert refused.error.startswith(".taiji.yml: line 4: job 'build': runner 'host' is not enabled")
    assert "TAIJI_CICD_RUNNER=host" in refused.error
    monkeypatch.setitem(app.config, "CICD_RUNNER", "host")
    allowed = make_pipeline(tenant, text=text)
    assert allowed.status != "error" and allowed.jobs[0].runner == "host"


@pytest.mark.parametrize(
    ("setting", "docker_host", "expected"),
    [
        ("auto", None, "sandbox"),
        ("auto", "unix:///run/docker.sock", "docker"),
        ("sandbox", "unix:///run/docker.sock", "sandbox"),
        ("host", None, "host"),
    ],
)
def test_jobs_without_a_runner_get_the_platforms(app, tenant, monkeypatch, setting, docker_host, expected):
    monkeypatch.setitem(app.config, "CICD_RUNNER", setting)
    monkeypatch.setitem(app.config, "DOCKER_HOST", docker_host)
    pipeline = make_pipeline(tenant, text=MIXED)
    runners = {job.name: job.runner for job in pipeline.jobs}
    assert runners == {"a": expected, "b": "sandbox"}


def test_the_api_shows_each_jobs_runner_and_whether_it_is_isolated(api_as, admin, tenant, app, monkeypatch):
    monkeypatch.setitem(app.config, "CICD_RUNNER", "host")
    make_hosted(tenant, "mixed", {".taiji.yml": MIXED})
    url = f"/api/v1/tenants/{tenant.slug}/repositories/mixed/pipelines"
    response = api_as(admin).post(url, json={"ref": "main"})
    assert response.status_code == 201, response.json
    jobs = {j["name"]: j for j in response.json["jobs"]}
    assert (jobs["a"]["runner"], jobs["a"]["isolated"]) == ("host", False)
    assert (jobs["b"]["runner"], jobs["b"]["isolated"]) == ("sandbox", True)
    spec = api_as(admin).get("/api/v1/openapi.json").json
    text = str(spec)
    assert "sandbox | docker | host" in text and "disk_limit" in text


def test_the_console_says_plainly_when_jobs_are_not_isolated(login, admin, tenant, app, monkeypatch):
    monkeypatch.setitem(app.config, "CICD_RUNNER", "host")
    pipeline = make_pipeline(tenant, text="jobs:\n  a: {script: x}\n")
    client = login(admin)
    job_page = client.get(f"/t/{tenant.slug}/jobs/{pipeline.jobs[0].id}").get_data(as_text=True)
    assert 'data-testid="host-runner-warning"' in job_page and "not isolated" in job_page
    assert 'data-runner="host"' in job_page
    for page in (f"/t/{tenant.slug}/pipelines/{pipeline.id}", f"/t/{tenant.slug}/pipelines"):
        assert 'data-testid="host-runner-banner"' in client.get(page).get_data(as_text=True), page

    monkeypatch.setitem(app.config, "CICD_RUNNER", "sandbox")
    isolated = make_pipeline(tenant, text="jobs:\n  a: {script: x}\n")
    job_page = client.get(f"/t/{tenant.slug}/jobs/{isolated.jobs[0].id}").get_data(as_text=True)
    assert 'data-runner="sandbox"' in job_page and "host-runner-warning" not in job_page
    pipeline_page = client.get(f"/t/{tenant.slug}/pipelines/{isolated.id}").get_data(as_text=True)
    assert "host-runner-banner" not in pipeline_page
    # The earlier pipeline ran a job on the host: its page keeps saying so.
    earlier = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    assert "host-runner-banner" in earlier


def test_the_runner_and_reason_read_in_chinese(login, admin, tenant, app, monkeypatch):
    monkeypatch.setitem(app.config, "CICD_RUNNER", "host")
    pipeline = make_pipeline(tenant, text="jobs:\n  a: {script: x}\n")
    client = login(admin)
    html = client.get(
        f"/t/{tenant.slug}/jobs/{pipeline.jobs[0].id}", headers={"Accept-Language": "zh-CN"}
    ).get_data(as_text=True)
    assert "这里的作业未被隔离" in html and "运行器" in html


@pytest.mark.live
def test_a_docker_job_without_an_engine_fails_at_once_with_the_reason(ci, monkeypatch):
    monkeypatch.setitem(ci.app.config, "DOCKER_HOST", None)
    repo = ci.repo({".taiji.yml": "jobs:\n  build:\n    runner: docker\n    script: [echo never]\n"})
    state = ci.drive(ci.run(repo), timeout=30)
    job = state["jobs"]["build"]
    assert (state["status"], job["status"], job["reason"]) == ("failed", "failed", "system")
    text = ci.log(job["id"])
    assert "no Docker engine is configured" in text and "TAIJI_DOCKER_HOST" in text
    assert "$ echo never" not in text


def test_services_keep_the_runner_of_a_retried_pipeline(tenant, app, monkeypatch):
    monkeypatch.setitem(app.config, "CICD_RUNNER", "sandbox")
    pipeline = make_pipeline(tenant, text="jobs:\n  a:\n    script: x\n    runner: sandbox\n")
    services.cancel_pipeline(tenant, pipeline.id)
    again = services.retry_pipeline(tenant, pipeline.id)
    assert [job.runner for job in again.jobs] == ["sandbox"]
