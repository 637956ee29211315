"""The longest time a job may run is a tenant quota that platform administrators set: a file asking
for more is refused with the reason, a job that names no timeout gets the shorter of the default
and the limit, and a job made before the limit was lowered is held to it when it starts."""

from __future__ import annotations

from tests.factories import database_state, make_member
from tests.modules.cicd.conftest import make_hosted

QUOTA = "cicd.job_timeout_seconds"


def _file(timeout: str | None) -> str:
    line = f"    timeout: {timeout}\n" if timeout else ""
    return f"jobs:\n  build:\n{line}    script: [echo build]\n"


def _run(api, tenant, repository):
    url = f"/api/v1/tenants/{tenant.slug}/repositories/{repository}/pipelines"
    return api.post(url, json={"ref": "main"})


def _quota(api, tenant):
    return next(q for q in api.get(f"/api/v1/tenants/{tenant.slug}/quotas").json if q["name"] == QUOTA)


def test_by_default_a_job_may_run_an_hour_and_a_file_asking_for_more_is_refused_with_the_reason(
    api_as, admin, tenant
):
    api = api_as(admin)
    row = _quota(api, tenant)
    assert (row["limit"], row["unit"]) == (3600, "seconds")
    make_hosted(tenant, "long", {".taiji.yml": _file("2h")})
    body = _run(api, tenant, "long").json
    assert body["status"] == "error" and body["jobs"] == []
    assert body["error"] == (
        ".taiji.yml: line 3: job 'build': timeout '2h' is longer than this tenant's longest job time, "
        "1h: ask for at most that, or ask a platform administrator to raise the tenant's quota "
        "cicd.job_timeout_seconds"
    )
    make_hosted(tenant, "hour", {".taiji.yml": _file("1h")})
    ok = _run(api, tenant, "hour").json
    assert ok["status"] == "pending"
    job = api.get(f"/api/v1/tenants/{tenant.slug}/jobs/{ok['jobs'][0]['id']}").json
    assert job["timeout"] == 3600


def test_a_platform_admin_sets_the_limit_and_jobs_keep_to_it(api_as, admin, tenant):
    api = api_as(admin)
    response = api.put(f"/api/v1/tenants/{tenant.slug}/quotas/{QUOTA}", json={"limit": 600})
    assert response.status_code == 200 and response.json["limit"] == 600
    make_hosted(tenant, "svc", {".taiji.yml": _file("11m")})
    refused = _run(api, tenant, "svc").json
    assert refused["status"] == "error" and "longest job time, 10m:" in refused["error"]
    # No timeout in the file: the default (30 minutes) would pass the limit, so the limit it is.
    make_hosted(tenant, "svc", {".taiji.yml": _file(None)})
    started = _run(api, tenant, "svc").json
    job = api.get(f"/api/v1/tenants/{tenant.slug}/jobs/{started['jobs'][0]['id']}").json
    assert (started["status"], job["timeout"]) == ("pending", 600)
    # Unlimited: the file format's own maximum (24h) still holds.
    assert api.put(f"/api/v1/tenants/{tenant.slug}/quotas/{QUOTA}", json={"limit": None}).status_code == 200
    make_hosted(tenant, "svc", {".taiji.yml": _file("20h")})
    assert _run(api, tenant, "svc").json["status"] == "pending"


def test_a_tenant_owner_cannot_lengthen_their_own_jobs(api_as, tenant):
    owner = make_member(tenant, "owner")
    api = api_as(owner)
    api.get("/api/v1/me")
    before = database_state()
    response = api.put(f"/api/v1/tenants/{tenant.slug}/quotas/{QUOTA}", json={"limit": 86400})
    assert response.status_code == 403
    assert database_state() == before
    assert _quota(api, tenant)["limit"] == 3600


def test_a_job_made_before_the_limit_was_lowered_is_held_to_it_when_it_starts(api_as, admin, tenant):
    api = api_as(admin)
    make_hosted(tenant, "deploy", {".taiji.yml": "jobs:\n  deploy:\n    when: manual\n    timeout: 45m\n"
                                                 "    script: [echo deploying]\n"})
    pipeline = _run(api, tenant, "deploy").json
    job_id = pipeline["jobs"][0]["id"]
    assert pipeline["jobs"][0]["status"] == "manual"
    api.put(f"/api/v1/tenants/{tenant.slug}/quotas/{QUOTA}", json={"limit": 300})
    played = api.post(f"/api/v1/tenants/{tenant.slug}/jobs/{job_id}/play")
    assert played.status_code == 200 and played.json["status"] == "pending"
    assert api.get(f"/api/v1/tenants/{tenant.slug}/jobs/{job_id}").json["timeout"] == 300
    log = api.get(f"/api/v1/tenants/{tenant.slug}/jobs/{job_id}/log").get_data(as_text=True)
    assert "asked for 45m; it may run at most 5m, the tenant's longest job time" in log
