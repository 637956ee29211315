"""A merge request from end to end in a real browser, in English and in Chinese: a branch pushed with
the real ``git``, the request opened from the compare view, an inline comment, the pipeline the push
started going green, approval by a second user, the merge — and the merge commit found on main with
``git``; a direct push to the protected main is refused.

Nothing is published by hand: the server runs next to a real `taiji worker` and `taiji runner` (the
``stack`` fixture of tests/modules/cicd/test_demo.py). The branch carries a `.taiji.yml`; its push
publishes ``vcs.push``, the worker hands it to CI, which starts the pipeline; the runner checks the
commit out and runs the job as a process; CI's ``cicd.pipeline.succeeded`` reaches VCS through the
worker, which records the commit's status that the protected branch's rule requires.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, sign_in, sign_out
from tests.modules.cicd.test_demo import stack  # noqa: F401 - the fixture

PIPELINE_FILE = """\
jobs:
  test:
    script: [test -f README.md, echo checked out]
"""


@pytest.fixture
def served(stack):  # noqa: F811
    return LiveServer(url=stack.url, app=stack.app)


def _git(work, *args, check=True):
    env = {"PATH": os.environ["PATH"], "HOME": str(work), "GIT_TERMINAL_PROMPT": "0",
           "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C", "GIT_AUTHOR_NAME": "Ann",
           "GIT_AUTHOR_EMAIL": "ann@e2e.example",
           "GIT_COMMITTER_NAME": "Ann", "GIT_COMMITTER_EMAIL": "ann@e2e.example"}
    result = subprocess.run(["git", *args], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"git {args} failed: {result.stdout}\n{result.stderr}")
    return result


def _setup(live_server, lang, tmp_path):
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs
    from taiji.platform.db import db, write_lock_first
    from tests.factories import system_principal

    slug = f"mr-{lang}"
    # The worker writes to the same database meanwhile: on SQLite, a unit of work that took the
    # write lock first is never refused for a stale read (taiji/platform/db.py).
    with write_lock_first():
        author = live_server.account(f"ann-{lang}@e2e.example", "Ann Author")
        reviewer = live_server.account(f"rob-{lang}@e2e.example", "Rob Reviewer")
    with write_lock_first(), live_server.app.app_context():
        user = iam.get_user_by_email(author)
        tenant = tm.create_tenant(slug, f"MR {lang}", owner_id=user.id)
        tm.add_member(tenant, reviewer, "admin", actor=system_principal())
        vcs.create_repository(tenant, {"name": "shop"}, actor=system_principal())
        _, token = iam.create_token(user, "git")
        db.session.commit()
        db.session.remove()
    work = tmp_path / "work"
    work.mkdir()
    remote = f"http://x:{token}@{live_server.url.removeprefix('http://')}/git/{slug}/shop.git"
    _git(work, "init", "-q", "-b", "main")
    (work / "app.py").write_text("A = 1\n")
    (work / "README.md").write_text("# Shop\n")
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "First")
    _git(work, "remote", "add", "origin", remote)
    _git(work, "push", "-q", "origin", "main")
    with write_lock_first(), live_server.app.app_context():
        tenant = tm.get_tenant(slug)
        vcs.protect(tenant, vcs.get_repository(tenant, "shop"), {
            "pattern": "main", "required_approvals": 1, "require_merge_request": True,
            "require_green_pipeline": True})
        db.session.commit()
        db.session.remove()
    _git(work, "checkout", "-qb", "add-b")
    (work / "app.py").write_text("A = 1\nB = 2\n")
    (work / ".taiji.yml").write_text(PIPELINE_FILE)  # without `on:`, every branch push runs it
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "Add B")
    _git(work, "push", "-q", "origin", "add-b")
    return slug, author, reviewer, work


def _pipeline_of(live_server, slug, sha) -> dict:
    """CI's pipeline for ``sha`` of the shop (what the push started), or {} while there is none."""
    import sqlalchemy as sa

    from taiji.modules.cicd.models import Pipeline
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug

    with live_server.app.app_context():
        try:
            pipeline = db.session.execute(sa.select(Pipeline).where(
                Pipeline.tenant_id == tenant_by_slug(slug).id, Pipeline.repository == "shop",
                Pipeline.sha == sha)).scalars().first()
            if pipeline is None:
                return {}
            return {"id": pipeline.id, "status": pipeline.status, "trigger": pipeline.trigger,
                    "jobs": {job.name: (job.status, job.exit_code) for job in pipeline.jobs}}
        finally:
            db.session.remove()


def _finished(pipeline: dict) -> dict | None:
    return pipeline if pipeline.get("status") in ("success", "failed", "canceled", "error") else None


def _reload_until_green(page, stack, live_server, slug, sha, timeout=120):  # noqa: F811
    """As a person would: reload the merge request until its pipeline badge says succeeded (the page
    is not live). A failed pipeline, or none in time, fails with what CI and the worker said."""
    badge = page.get_by_test_id("pipeline-status")
    deadline = time.monotonic() + timeout
    # While CI has not finished, the badge cannot be green: ask the database (cheap) rather than have
    # the server render the merge request again and again; then reload until the badge says so.
    while not _finished(_pipeline_of(live_server, slug, sha)) and time.monotonic() < deadline:
        stack.worker.assert_alive()
        stack.runner.assert_alive()
        time.sleep(0.2)
    page.reload()
    while True:
        status = badge.get_attribute("data-status") if badge.count() else None
        if status == "succeeded":
            return
        if status == "failed" or time.monotonic() > deadline:
            raise AssertionError(f"pipeline badge {status!r}; CI: {_pipeline_of(live_server, slug, sha)}\n"
                                 f"--- worker ---\n{stack.worker.log_tail()}\n"
                                 f"--- runner ---\n{stack.runner.log_tail()}")
        stack.worker.assert_alive()
        stack.runner.assert_alive()
        page.wait_for_timeout(300)
        page.reload()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_open_comment_approve_and_merge(browser, stack, served, lang, tmp_path, shot):  # noqa: F811
    base = served.url
    slug, author, reviewer, work = _setup(served, lang, tmp_path)
    head = _git(work, "rev-parse", "HEAD").stdout.strip()
    first = _git(work, "rev-parse", "main").stdout.strip()
    # main requires merge requests: a direct push is refused by Taiji's hook.
    _git(work, "checkout", "-q", "main")
    (work / "direct.txt").write_text("x\n")
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "Direct")
    refused = _git(work, "push", "origin", "main", check=False)
    assert refused.returncode != 0 and "merge requests only" in refused.stderr

    context = browser.new_context(locale="zh-CN" if lang == "zh" else "en-US",
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, base, author)
    page.goto(f"{base}/t/{slug}/repositories/shop/compare/main...add-b")
    if lang == "zh":
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.get_by_test_id("compare-open-mr").click()
    expect(page.get_by_test_id("mr-source")).to_have_value("add-b")
    expect(page.get_by_test_id("mr-target")).to_have_value("main")
    page.get_by_test_id("mr-title").fill("Add B")
    page.get_by_test_id("mr-description").fill("Adds **B**.")
    with page.expect_navigation():
        page.get_by_test_id("mr-submit").click()
    expect(page.get_by_test_id("mr-state")).to_have_attribute("data-state", "open")
    expect(page.get_by_test_id("mr-description").locator("strong")).to_have_text("B")
    expect(page.get_by_test_id("merge-button")).to_be_disabled()
    expect(page.get_by_test_id("mr-pipeline")).to_be_visible()
    shot(page, f"vcs-mr-overview-{lang}")

    page.get_by_test_id("tab-changes").click()
    line = page.locator('[data-testid=diff-file][data-path="app.py"] '
                        '[data-testid=diff-line][data-side=new][data-line="2"]')
    line.hover()
    line.get_by_test_id("add-line-comment").click()
    page.get_by_test_id("line-comment-body").fill("Why *B*?")
    page.get_by_test_id("line-comment-submit").click()
    thread = page.get_by_test_id("thread")
    expect(thread.locator("em")).to_have_text("B")
    page.reload()
    expect(page.get_by_test_id("thread")).to_have_count(1)
    shot(page, f"vcs-mr-changes-{lang}")

    # The push started a pipeline; the runner runs its job. The author watches it go green.
    page.goto(f"{base}/t/{slug}/repositories/shop/merge-requests/1")
    _reload_until_green(page, stack, served, slug, head)
    pipeline = _pipeline_of(served, slug, head)
    assert pipeline["trigger"] == "push" and pipeline["jobs"] == {"test": ("success", 0)}
    expect(page.get_by_test_id("pipeline-link")).to_have_attribute(
        "href", f"/t/{slug}/pipelines/{pipeline['id']}")
    expect(page.get_by_test_id("merge-button")).to_be_disabled()  # still one approval missing
    shot(page, f"vcs-mr-green-{lang}")
    with page.expect_navigation():
        page.get_by_test_id("pipeline-link").click()
    job = page.locator("[data-testid=job-node][data-job=test]")
    expect(job).to_have_attribute("data-status", "success")
    with page.expect_navigation():
        job.click()
    expect(page.get_by_test_id("job-log")).to_contain_text("checked out")  # the script really ran
    sign_out(page)

    sign_in(page, base, reviewer)
    page.goto(f"{base}/t/{slug}/repositories/shop/merge-requests/1")
    expect(page.get_by_test_id("pipeline-status")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("merge-blockers")).to_be_visible()  # one approval missing
    with page.expect_navigation():
        page.get_by_test_id("approve").click()
    expect(page.get_by_test_id("approval")).to_have_count(1)
    expect(page.get_by_test_id("merge-button")).to_be_enabled()
    with page.expect_navigation():
        page.get_by_test_id("merge-button").click()
    expect(page.get_by_test_id("mr-state")).to_have_attribute("data-state", "merged")
    shot(page, f"vcs-mr-merged-{lang}")
    context.close()

    _git(work, "fetch", "-q", "origin")
    parents = _git(work, "log", "-1", "--format=%P", "origin/main").stdout.split()
    assert parents == [first, head]
    assert "Merge branch 'add-b' into 'main'" in _git(work, "log", "-1", "--format=%B", "origin/main").stdout
    # The merge brought the file to main, and the merge's push runs it there too (waited for, so that
    # no job of this test still runs when the next one begins).
    merge = _git(work, "rev-parse", "origin/main").stdout.strip()
    on_main = stack.wait_for(lambda: _finished(_pipeline_of(served, slug, merge)), timeout=120,
                             what="the pipeline of the merge commit")
    assert on_main["trigger"] == "push" and on_main["status"] == "success", on_main
