"""CICD console: pipeline lists, the pipeline page with its job graph, buttons by permission,
a broken pipeline file's message, and who may see what."""

from __future__ import annotations

import re

from taiji.modules.cicd import services
from taiji.modules.cicd.models import JobStatus, PipelineStatus
from taiji.modules.vcs import services as vcs
from taiji.platform.db import db, utcnow
from tests.factories import make_member, make_tenant

PIPELINE_FILE = """\
jobs:
  lint:
    script: [echo lint]
  test:
    script: [echo test]
  package:
    needs: [lint, test]
    script: [echo package]
  deploy:
    needs: [package]
    when: manual
    script: [echo deploy]
"""

BROKEN_FILE = """\
jobs:
  test:
    script: [echo test]
  package:
    needs: [tset]
    script: [echo package]
"""


def make_pipeline(tenant, repository="shop", text=PIPELINE_FILE, ref="refs/heads/main", sha=None, **kw):
    pipeline = services.create_pipeline(tenant, repository, ref=ref, sha=sha or "ab" * 20, text=text, **kw)
    db.session.commit()
    return pipeline


def set_states(pipeline, pipeline_status=None, **jobs):
    for job in pipeline.jobs:
        if job.name in jobs:
            job.status = jobs[job.name]
            if jobs[job.name] in (JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.RUNNING):
                job.started_at = utcnow()
    if pipeline_status:
        pipeline.status = pipeline_status
    db.session.commit()


def test_empty_pipeline_list_explains_how_to_start(login, admin, tenant):
    html = login(admin).get(f"/t/{tenant.slug}/pipelines").get_data(as_text=True)
    assert "No pipelines yet" in html
    assert ".taiji.yml" in html
    assert 'data-testid="run-form"' in html


def test_list_filters_by_repository_status_and_ref_and_pages(login, admin, tenant):
    for name in ("shop", "billing"):
        vcs.create_repository(tenant, {"name": name}, actor=admin)
    first = make_pipeline(tenant, "shop")
    make_pipeline(tenant, "shop", ref="refs/heads/release/1.0")
    make_pipeline(tenant, "billing")
    set_states(first, PipelineStatus.FAILED)
    client = login(admin)

    def ids(query):
        html = client.get(f"/t/{tenant.slug}/pipelines{query}").get_data(as_text=True)
        return re.findall(r'data-testid="pipeline-row" data-id="(\d+)"', html)

    assert len(ids("")) == 3
    assert len(ids("?repository=shop")) == 2
    assert ids("?status=failed") == [str(first.id)]
    assert len(ids("?ref=release/1.0")) == 1
    assert ids("?status=bogus") == ids("")  # an unknown status is ignored, not a 500
    html = client.get(f"/t/{tenant.slug}/pipelines?status=canceled").get_data(as_text=True)
    assert "No pipelines match" in html
    per_repo = client.get(f"/t/{tenant.slug}/repositories/shop/pipelines").get_data(as_text=True)
    assert per_repo.count('data-testid="pipeline-row"') == 2
    assert "Pipelines of shop" in per_repo
    assert client.get(f"/t/{tenant.slug}/repositories/nope/pipelines").status_code == 404
    unknown = client.get(f"/t/{tenant.slug}/pipelines?repository=nope")
    assert "No pipelines match" in unknown.get_data(as_text=True)


def test_list_is_paginated(login, admin, tenant):
    for _ in range(23):
        make_pipeline(tenant, "shop")
    client = login(admin)
    first = client.get(f"/t/{tenant.slug}/pipelines").get_data(as_text=True)
    second = client.get(f"/t/{tenant.slug}/pipelines?page=2").get_data(as_text=True)
    assert first.count('data-testid="pipeline-row"') == 20
    assert second.count('data-testid="pipeline-row"') == 3
    assert "23 in all" in first


def test_pipeline_page_draws_jobs_in_columns_by_needs(login, admin, tenant):
    pipeline = make_pipeline(tenant)
    set_states(pipeline, PipelineStatus.RUNNING, lint=JobStatus.SUCCESS, test=JobStatus.RUNNING)
    html = login(admin).get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    boxes = re.findall(r'data-job="([a-z]+)" data-status="[a-z]+">\s*<g class="node [^"]*" '
                       r'transform="translate\((\d+),\d+\)"', html)
    nodes = {name: int(x) for name, x in boxes}
    assert nodes["lint"] == nodes["test"] < nodes["package"] < nodes["deploy"]
    assert html.count('<path class="edge"') == 3
    assert 'data-job="test" data-status="running"' in html
    # While it runs, the page polls for changes.
    assert 'data-polling="on"' in html
    assert 'data-testid="pipeline-cancel"' in html


def test_finished_pipeline_stops_polling_and_offers_retry(login, admin, tenant):
    pipeline = make_pipeline(tenant)
    set_states(pipeline, PipelineStatus.FAILED, lint=JobStatus.SUCCESS, test=JobStatus.FAILED,
               package=JobStatus.SKIPPED, deploy=JobStatus.SKIPPED)
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    assert 'data-polling="on"' not in html
    assert 'data-testid="pipeline-retry"' in html
    fragment = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="pipeline-live"')


def test_broken_pipeline_file_shows_the_line_and_no_jobs(login, admin, tenant):
    pipeline = make_pipeline(tenant, text=BROKEN_FILE)
    assert pipeline.status == PipelineStatus.ERROR
    html = login(admin).get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    error = re.search(r'data-testid="pipeline-error">(.*?)</div>', html, re.S).group(1)
    assert "line 5" in error and "tset" in error
    assert "no job ran" in error
    assert 'data-testid="job-graph"' not in html


def test_viewer_sees_no_buttons_and_the_routes_refuse(client, login, tenant):
    pipeline = make_pipeline(tenant)
    viewer = make_member(tenant, "viewer")
    login(viewer)
    html = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    assert 'data-testid="pipeline-cancel"' not in html
    assert client.post(f"/t/{tenant.slug}/pipelines/{pipeline.id}/cancel").status_code == 403
    listing = client.get(f"/t/{tenant.slug}/pipelines").get_data(as_text=True)
    assert 'data-testid="run-form"' not in listing
    run = client.post(f"/t/{tenant.slug}/pipelines", data={"repository": "shop", "ref": "main"})
    assert run.status_code == 403
    assert client.get(f"/t/{tenant.slug}/pipelines/secrets").status_code == 403
    db.session.refresh(pipeline)
    assert pipeline.status != PipelineStatus.CANCELED


def test_cancel_from_the_console_cancels_every_job(login, admin, tenant):
    pipeline = make_pipeline(tenant)
    client = login(admin)
    response = client.post(f"/t/{tenant.slug}/pipelines/{pipeline.id}/cancel")
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Pipeline canceled." in html
    assert 'data-testid="pipeline-status">canceled' in html.replace('data-status="canceled" ', "")


def test_other_tenants_pipelines_are_not_found(client, login, admin, tenant):
    pipeline = make_pipeline(tenant)
    job = pipeline.jobs[0]
    outsider = make_tenant(owner=make_member(tenant, "viewer"))
    login(admin)
    assert client.get(f"/t/{outsider.slug}/pipelines/{pipeline.id}").status_code == 404
    assert client.get(f"/t/{outsider.slug}/jobs/{job.id}").status_code == 404
    stranger = make_member(outsider, "owner")
    client.post("/logout")
    login(stranger)
    assert client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").status_code == 404
    assert client.get(f"/t/{tenant.slug}/pipelines").status_code == 404


def test_anonymous_is_sent_to_sign_in(client, tenant):
    pipeline = make_pipeline(tenant)
    response = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}")
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]


def test_run_form_reports_an_unknown_repository_and_bad_variables(login, admin, tenant):
    client = login(admin)
    response = client.post(f"/t/{tenant.slug}/pipelines", data={"repository": "nope", "ref": "main"})
    assert response.status_code == 422
    assert "nope" in response.get_data(as_text=True)
    response = client.post(f"/t/{tenant.slug}/pipelines",
                           data={"repository": "nope", "ref": "main", "variables": "not a pair"})
    assert response.status_code == 422
    assert "Line 1: write NAME=value" in response.get_data(as_text=True)
    assert services.list_pipelines(tenant).total == 0


def test_unknown_action_is_not_found(login, admin, tenant):
    pipeline = make_pipeline(tenant)
    client = login(admin)
    assert client.post(f"/t/{tenant.slug}/pipelines/{pipeline.id}/explode").status_code == 404
    assert client.post(f"/t/{tenant.slug}/jobs/{pipeline.jobs[0].id}/explode").status_code == 404


def test_the_live_fragment_brings_the_header_buttons_along(client, login, admin, tenant):
    pipeline = make_pipeline(tenant)
    set_states(pipeline, PipelineStatus.RUNNING, lint=JobStatus.RUNNING)
    url, hx = f"/t/{tenant.slug}/pipelines/{pipeline.id}", {"HX-Request": "true"}
    login(admin)
    page = client.get(url).get_data(as_text=True)
    assert 'hx-swap-oob' not in page  # the full page has its header in place
    running = client.get(url, headers=hx).get_data(as_text=True)
    header = running[running.index('<div id="pipeline-actions"'):]
    assert 'hx-swap-oob="true"' in header.split(">", 1)[0]
    assert 'data-testid="pipeline-cancel"' in header and 'data-testid="pipeline-retry"' not in header
    assert re.search(r'data-status="running" data-testid="pipeline-header-status"', header)

    # It finishes while the page is open: the next refresh swaps Cancel for Retry, and the badge.
    set_states(pipeline, PipelineStatus.FAILED, lint=JobStatus.FAILED, test=JobStatus.SUCCESS,
               package=JobStatus.SKIPPED, deploy=JobStatus.SKIPPED)
    done = client.get(url, headers=hx).get_data(as_text=True)
    header = done[done.index('<div id="pipeline-actions"'):]
    assert 'data-testid="pipeline-retry"' in header and 'data-testid="pipeline-cancel"' not in header
    assert re.search(r'data-status="failed" data-testid="pipeline-header-status"', header)

    # Someone who may only read gets the status, no buttons.
    client.post("/logout")
    login(make_member(tenant, "viewer"))
    seen = client.get(url, headers=hx).get_data(as_text=True)
    header = seen[seen.index('<div id="pipeline-actions"'):]
    assert 'data-testid="pipeline-header-status"' in header
    assert "pipeline-retry" not in header and "pipeline-cancel" not in header
