"""The job page and the API say where a job ran: the runner, the image and its digest."""

from __future__ import annotations

from taiji.modules.cicd.models import JobStatus, PipelineStatus
from taiji.platform.db import db
from tests.factories import make_token
from tests.modules.cicd.test_console import make_pipeline, set_states

DIGEST = "sha256:" + "ab12" * 16


def _docker_job(tenant):
    pipeline = make_pipeline(tenant, text="jobs:\n  build:\n    image: 'registry.example/team/py:3'\n"
                                          "    script: [echo build]\n")
    set_states(pipeline, PipelineStatus.SUCCESS, build=JobStatus.SUCCESS)
    job = pipeline.jobs[0]
    job.runner, job.image, job.image_digest = "docker", "registry.example/team/py:3", DIGEST
    db.session.commit()
    return job


def test_the_job_page_shows_runner_image_and_digest(login, admin, tenant):
    job = _docker_job(tenant)
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert "runner: Docker container" in html and "image registry.example/team/py:3" in html
    assert f'title="{DIGEST}">{DIGEST[:19]}</code>' in html
    client.post("/locale", data={"locale": "zh_Hans"})
    chinese = client.get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert "镜像 registry.example/team/py:3" in chinese


def test_the_api_gives_the_runner_image_and_digest(client, admin, tenant):
    job = _docker_job(tenant)
    token = make_token(admin)
    body = client.get(f"/api/v1/tenants/{tenant.slug}/jobs/{job.id}",
                      headers={"Authorization": f"Bearer {token}"}).get_json()
    assert (body["runner"], body["image"], body["image_digest"]) == ("docker", "registry.example/team/py:3",
                                                                     DIGEST)
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    job_schema = next(s for name, s in schema.items() if name.startswith("JobDetail"))
    assert {"image", "image_digest", "runner"} <= set(job_schema["properties"])
