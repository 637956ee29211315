"""A merge request from end to end in a real browser, in English and in Chinese: a branch pushed with
the real ``git``, the request opened from the compare view, an inline comment, the pipeline going
green (CI's event, published through the kernel's events), approval by a second user, the merge —
and the merge commit found on main with ``git``; a direct push to the protected main is refused."""

from __future__ import annotations

import os
import subprocess

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in, sign_out


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
    from taiji.platform.db import db
    from tests.factories import system_principal

    slug = f"mr-{lang}"
    author = live_server.account(f"ann-{lang}@e2e.example", "Ann Author")
    reviewer = live_server.account(f"rob-{lang}@e2e.example", "Rob Reviewer")
    with live_server.app.app_context():
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
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "First")
    _git(work, "remote", "add", "origin", remote)
    _git(work, "push", "-q", "origin", "main")
    with live_server.app.app_context():
        tenant = tm.get_tenant(slug)
        vcs.protect(tenant, vcs.get_repository(tenant, "shop"), {
            "pattern": "main", "required_approvals": 1, "require_merge_request": True,
            "require_green_pipeline": True})
        db.session.commit()
        db.session.remove()
    _git(work, "checkout", "-qb", "add-b")
    (work / "app.py").write_text("A = 1\nB = 2\n")
    _git(work, "commit", "-qam", "Add B")
    _git(work, "push", "-q", "origin", "add-b")
    return slug, author, reviewer, work


def _pipeline_green(live_server, slug, sha):
    from taiji.modules.vcs.events import on_pipeline
    from taiji.platform import events
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug

    with live_server.app.app_context():
        tenant = tenant_by_slug(slug)
        row = events.publish("cicd.pipeline.succeeded", {
            "tenant": slug, "repository": "shop", "pipeline": 4242, "number": 1, "ref": "refs/heads/add-b",
            "sha": sha, "status": "succeeded", "trigger": "push", "error": None}, tenant=tenant)
        db.session.commit()
        events.deliver(str(row.id), events.handler_name(on_pipeline))
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_open_comment_approve_and_merge(browser, live_server, lang, tmp_path, shot):
    base = live_server.url
    slug, author, reviewer, work = _setup(live_server, lang, tmp_path)
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
    expect(page.get_by_test_id("no-pipeline")).to_be_visible()
    shot(page, f"vcs-mr-overview-{lang}")

    page.get_by_test_id("tab-changes").click()
    line = page.locator('[data-testid=diff-line][data-side=new][data-line="2"]')
    line.hover()
    line.get_by_test_id("add-line-comment").click()
    page.get_by_test_id("line-comment-body").fill("Why *B*?")
    page.get_by_test_id("line-comment-submit").click()
    thread = page.get_by_test_id("thread")
    expect(thread.locator("em")).to_have_text("B")
    page.reload()
    expect(page.get_by_test_id("thread")).to_have_count(1)
    shot(page, f"vcs-mr-changes-{lang}")
    sign_out(page)

    _pipeline_green(live_server, slug, head)
    sign_in(page, base, reviewer)
    page.goto(f"{base}/t/{slug}/repositories/shop/merge-requests/1")
    expect(page.get_by_test_id("pipeline-status")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("pipeline-link")).to_have_attribute("href", f"/t/{slug}/pipelines/4242")
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
