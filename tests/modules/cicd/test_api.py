"""The CICD REST API: who may call what, bad input, and what a caller sees."""

from __future__ import annotations

import pytest

from tests.factories import make_member, make_tenant, make_user
from tests.modules.cicd.conftest import make_hosted

FILE = """
on: {push: {branches: [main]}}
jobs:
  test:
    script: [echo test]
  package:
    needs: [test]
    script: [echo package]
"""


@pytest.fixture
def repo(tenant):
    make_hosted(tenant, "shop", {".taiji.yml": FILE})
    return "shop"


def _run(api, tenant, repository="shop", **body):
    return api.post(
        f"/api/v1/tenants/{tenant.slug}/repositories/{repository}/pipelines", json={"ref": "main", **body}
    )


def test_running_a_pipeline_by_hand_starts_its_first_jobs(api_as, admin, tenant, repo):
    response = _run(api_as(admin), tenant, variables={"GREETING": "hi", "DEBUG": True})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["ref"] == "refs/heads/main" and len(body["sha"]) == 40 and body["trigger"] == "manual"
    assert body["status"] == "pending" and body["number"] == 1
    assert body["variables"] == ["DEBUG", "GREETING"]  # names only
    jobs = {j["name"]: j for j in body["jobs"]}
    assert jobs["test"]["status"] == "pending" and jobs["package"]["status"] == "created"
    assert jobs["package"]["needs"] == ["test"]
    assert _run(api_as(admin), tenant).json["number"] == 2


def test_pipelines_are_listed_newest_first_and_filtered(api_as, admin, tenant, repo):
    api = api_as(admin)
    first = _run(api, tenant).json["id"]
    second = _run(api, tenant).json["id"]
    api.post(f"/api/v1/tenants/{tenant.slug}/pipelines/{first}/cancel")
    listed = api.get(f"/api/v1/tenants/{tenant.slug}/pipelines?page_size=1")
    assert [p["id"] for p in listed.json] == [second]
    assert "X-Pagination" in listed.headers
    canceled = api.get(f"/api/v1/tenants/{tenant.slug}/pipelines?status=canceled").json
    assert [p["id"] for p in canceled] == [first]
    by_repo = api.get(f"/api/v1/tenants/{tenant.slug}/repositories/shop/pipelines?ref=main").json
    assert [p["id"] for p in by_repo] == [second, first]
    assert api.get(f"/api/v1/tenants/{tenant.slug}/pipelines?ref=other").json == []
    assert api.get(f"/api/v1/tenants/{tenant.slug}/pipelines?status=bogus").status_code == 422


def test_cancel_then_retry_makes_a_new_pipeline_of_the_same_commit(api_as, admin, tenant, repo):
    api = api_as(admin)
    pipeline = _run(api, tenant).json
    base = f"/api/v1/tenants/{tenant.slug}/pipelines/{pipeline['id']}"
    assert api.post(base + "/retry").status_code == 409  # still running
    canceled = api.post(base + "/cancel").json
    assert canceled["status"] == "canceled"
    assert {j["status"] for j in canceled["jobs"]} == {"canceled"}
    assert api.post(base + "/cancel").json["status"] == "canceled"  # idempotent
    again = api.post(base + "/retry")
    assert again.status_code == 201
    assert (
        again.json["trigger"] == "retry"
        and again.json["sha"] == pipeline["sha"]
        and again.json["retry_of"] == pipeline["id"]
    )


def test_job_detail_log_and_actions(api_as, admin, tenant, repo):
    from taiji.modules.cicd import services

    api = api_as(admin)
    pipeline = _run(api, tenant).json
    job_id = next(j["id"] for j in pipeline["jobs"] if j["name"] == "test")
    services.append_log(services.get_job(tenant, job_id), "line one\n已写入 ✓\n")
    detail = api.get(f"/api/v1/tenants/{tenant.slug}/jobs/{job_id}").json
    assert detail["script"] == ["echo test"] and detail["timeout"] == 1800 and detail["artifacts"] == []
    log = api.get(f"/api/v1/tenants/{tenant.slug}/jobs/{job_id}/log")
    assert log.status_code == 200 and log.mimetype == "text/plain"
    assert log.get_data(as_text=True) == "line one\n已写入 ✓\n"
    size = int(log.headers["X-Log-Size"])
    assert log.headers["X-Next-Offset"] == str(size) and log.headers["X-Log-Complete"] == "false"
    rest = api.get(f"/api/v1/tenants/{tenant.slug}/jobs/{job_id}/log?offset=9&format=json").json
    assert rest["text"] == "已写入 ✓\n" and rest["next_offset"] == size
    by_name = api.get(f"/api/v1/tenants/{tenant.slug}/pipelines/{pipeline['id']}/jobs/test/log")
    assert by_name.get_data(as_text=True).startswith("line one")
    assert (
        api.get(f"/api/v1/tenants/{tenant.slug}/pipelines/{pipeline['id']}/jobs/nope/log").status_code == 404
    )
    assert api.post(f"/api/v1/tenants/{tenant.slug}/jobs/{job_id}/play").status_code == 409
    assert api.post(f"/api/v1/tenants/{tenant.slug}/jobs/{job_id}/retry").status_code == 409
    canceled = api.post(f"/api/v1/tenants/{tenant.slug}/jobs/{job_id}/cancel").json
    assert canceled["status"] == "canceled" and canceled["failure_reason"] == "canceled"
    after = api.get(f"/api/v1/tenants/{tenant.slug}/pipelines/{pipeline['id']}").json
    assert after["status"] == "canceled"
    assert {j["name"]: j["status"] for j in after["jobs"]} == {"test": "canceled", "package": "skipped"}


def test_bad_input_is_refused_and_changes_nothing(api_as, admin, tenant, repo):
    api = api_as(admin)
    url = f"/api/v1/tenants/{tenant.slug}/repositories/shop/pipelines"
    for body in (
        {},
        {"ref": ""},
        {"ref": "no-such-branch"},
        {"ref": "main", "variables": {"1BAD": "x"}},
        {"ref": "main", "variables": {"X": {"nested": 1}}},
        {"ref": "main", "variables": "x"},
    ):
        response = api.post(url, json=body)
        assert response.status_code == 422, (body, response.json)
        assert response.mimetype == "application/problem+json"
    assert (
        api.post(
            f"/api/v1/tenants/{tenant.slug}/repositories/nope/pipelines", json={"ref": "main"}
        ).status_code
        == 404
    )
    assert api.get(f"/api/v1/tenants/{tenant.slug}/repositories/nope/pipelines").status_code == 404
    assert api.get(f"/api/v1/tenants/{tenant.slug}/pipelines").json == []
    assert api.get(f"/api/v1/tenants/{tenant.slug}/pipelines/999999").status_code == 404
    assert api.get(f"/api/v1/tenants/{tenant.slug}/jobs/99999999999999999999").status_code == 404


def test_a_ref_without_a_pipeline_file_is_a_clear_422(api_as, admin, tenant):
    make_hosted(tenant, "plain", {"README.md": "no pipeline here"})
    response = _run(api_as(admin), tenant, repository="plain")
    assert response.status_code == 422
    assert ".taiji.yml" in response.json["detail"]


def test_callers_without_access(api_as, anon_api, admin, tenant, repo):
    assert anon_api.get(f"/api/v1/tenants/{tenant.slug}/pipelines").status_code == 401
    viewer = make_member(tenant, "viewer")
    assert api_as(viewer).get(f"/api/v1/tenants/{tenant.slug}/pipelines").status_code == 200
    assert _run(api_as(viewer), tenant).status_code == 403
    assert (
        api_as(viewer)
        .post(f"/api/v1/tenants/{tenant.slug}/cicd/secrets", json={"name": "X", "value": "y"})
        .status_code
        == 403
    )
    member = make_member(tenant, "member")
    assert _run(api_as(member), tenant).status_code == 201
    stranger = make_user()
    make_tenant(owner=stranger)
    assert api_as(stranger).get(f"/api/v1/tenants/{tenant.slug}/pipelines").status_code == 404
    assert _run(api_as(stranger), tenant).status_code == 404


def test_secrets_are_write_only(api_as, admin, tenant):
    api = api_as(admin)
    url = f"/api/v1/tenants/{tenant.slug}/cicd/secrets"
    created = api.post(url, json={"name": "PYPI_TOKEN", "value": "pypi-AgEIcHlwaS5vcmc"})
    assert created.status_code == 201 and "value" not in created.json
    assert api.post(url, json={"name": "PYPI_TOKEN", "value": "rotated"}).status_code == 200
    assert api.post(url, json={"name": "PYPI_TOKEN", "value": "own", "repository": "shop"}).status_code == 201
    listed = api.get(url)
    assert [(s["name"], s["repository"]) for s in listed.json] == [
        ("PYPI_TOKEN", None),
        ("PYPI_TOKEN", "shop"),
    ]
    assert "pypi-" not in listed.get_data(as_text=True) and "rotated" not in listed.get_data(as_text=True)
    assert api.post(url, json={"name": "not a name", "value": "x"}).status_code == 422
    assert api.post(url, json={"name": "EMPTY", "value": ""}).status_code == 422
    assert api.delete(url + "/PYPI_TOKEN?repository=shop").status_code == 204
    assert api.delete(url + "/PYPI_TOKEN?repository=shop").status_code == 404
    assert [s["repository"] for s in api.get(url).json] == [None]


def test_the_json_schema_is_served_to_editors(anon_api):
    response = anon_api.get("/api/v1/schemas/taiji-yml.json")
    assert response.status_code == 200 and response.mimetype == "application/schema+json"
    assert response.json["title"].startswith("Taiji pipeline file")
