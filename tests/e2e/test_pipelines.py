"""Watching a pipeline in the browser: a running job's log grows on the page as the job writes,
without reloading, and the Cancel button stops it (state ``canceled``).

A real `taiji worker` runs the job next to the served app (the ``stack`` fixture of
tests/modules/cicd/test_demo.py).
"""

from __future__ import annotations

import re
import subprocess

from playwright.sync_api import expect

from taiji.platform.db import db
from tests.e2e.conftest import PASSWORD, sign_in
from tests.modules.cicd.test_demo import stack  # noqa: F401 - the fixture

SLOW_FILE = """\
jobs:
  ticker:
    script:
      - 'for i in $(seq 1 400); do printf "\\033[32mtick\\033[0m %s\\n" "$i"; sleep 0.3; done'
"""


def _seed(served, tmp_path) -> tuple[str, int, int]:
    """A user owning a tenant with a hosted repository whose main holds SLOW_FILE; a pipeline
    run by hand on it. Returns (email, pipeline id, job id)."""
    from taiji.modules.cicd import services as cicd
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs

    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "E2E", "GIT_AUTHOR_EMAIL": "e2e@example.com",
           "GIT_COMMITTER_NAME": "E2E", "GIT_COMMITTER_EMAIL": "e2e@example.com"}
    (work / ".taiji.yml").write_text(SLOW_FILE)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "slow job"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True)
    with served.app_context():
        user = iam.create_user("watcher@e2e.example", "Watcher", PASSWORD)
        tenant = tm.create_tenant("watch", "Watch", owner_id=user.id)
        repo = vcs.create_repository(tenant, {"name": "ticker"}, actor=user)
        db.session.commit()
        # Straight into the bare repository: this test is about watching, not pushing.
        subprocess.run(["git", "fetch", "-q", str(work), "main:main"], cwd=vcs.local_git_dir(repo), env=env,
                       check=True)
        pipeline = cicd.run_pipeline(tenant, "ticker", "main", actor=user)
        db.session.commit()
        ids = (pipeline.id, pipeline.jobs[0].id)
        db.session.remove()
    return "watcher@e2e.example", *ids


def _ticks(page) -> int:
    return len(re.findall(r"tick \d+", page.inner_text("[data-testid=job-log]")))


def test_watch_a_running_job_log_grow_live_and_cancel_it(stack, page, shot, tmp_path):  # noqa: F811
    email, pipeline_id, job_id = _seed(stack.app, tmp_path)
    sign_in(page, stack.url, email)

    page.goto(f"{stack.url}/t/watch/pipelines/{pipeline_id}")
    expect(page.locator("[data-testid=job-node][data-job=ticker]")).to_have_attribute(
        "data-status", "running", timeout=30_000)
    shot(page, "pipeline-running")

    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{stack.url}/t/watch/jobs/{job_id}")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("[data-testid=job-log]")).to_contain_text("tick 3", timeout=30_000)
    before = _ticks(page)
    # A function, not an expression string: Playwright would eval() a string, which the CSP refuses.
    grown = ("n => (document.querySelector('[data-testid=job-log]').innerText.match(/tick \\d+/g) || [])"
             ".length >= n")
    page.wait_for_function(grown, arg=before + 5, timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True  # grown in place, not by reloading
    # It grew from the job's event stream, not by polling for the log's end.
    assert any(f"/jobs/{job_id}/live" in url for url in asked)
    assert not [url for url in asked if f"/jobs/{job_id}/log?" in url]
    # Colours are rendered, not shown as escape codes.
    assert page.locator("[data-testid=job-log] .ansi-fg-green").count() > 5
    assert "\x1b" not in page.inner_text("[data-testid=job-log]")
    # The view follows the end of the log.
    assert page.evaluate("(() => { const b = document.getElementById('job-log');"
                         " return b.scrollHeight - b.scrollTop - b.clientHeight < 60; })()")
    shot(page, "job-log-live")

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("[data-testid=job-cancel]")
    status = page.locator("[data-testid=job-status]")
    expect(status).to_have_attribute("data-status", "canceled", timeout=15_000)
    expect(page.locator("[data-testid=failure-reason]")).to_contain_text("canceled")
    # Nothing more is written once it is canceled.
    settled = _ticks(page)
    page.wait_for_timeout(1500)
    assert _ticks(page) <= settled + 1
    shot(page, "job-canceled")

    page.goto(f"{stack.url}/t/watch/pipelines/{pipeline_id}")
    expect(page.locator("[data-testid=pipeline-status]")).to_have_attribute("data-status", "canceled")
