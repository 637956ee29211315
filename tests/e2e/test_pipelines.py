"""Watching a pipeline in the browser: a running job's log grows on the page as the job writes,
without reloading, and the Cancel button stops it (state ``canceled``).

A real `taiji worker` runs the job next to the served app (the ``stack`` fixture of
tests/modules/cicd/test_demo.py).
"""

from __future__ import annotations

import re
import subprocess

from playwright.sync_api import expect

from taiji.platform.db import db, write_lock_first
from tests.e2e.conftest import PASSWORD, sign_in
from tests.modules.cicd.test_demo import stack  # noqa: F401 - the fixture

SLOW_FILE = """\
jobs:
  ticker:
    script:
      - 'for i in $(seq 1 400); do printf "\\033[32mtick\\033[0m %s\\n" "$i"; sleep 0.3; done'
"""


def _seed(served, tmp_path, *, email="watcher@e2e.example", slug="watch",
          text=SLOW_FILE) -> tuple[str, int, int]:
    """A user owning a tenant with a hosted repository whose main holds SLOW_FILE (or `text`); a
    pipeline run by hand on it. Returns (email, pipeline id, job id)."""
    from taiji.modules.cicd import services as cicd
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs

    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "E2E", "GIT_AUTHOR_EMAIL": "e2e@example.com",
           "GIT_COMMITTER_NAME": "E2E", "GIT_COMMITTER_EMAIL": "e2e@example.com"}
    (work / ".taiji.yml").write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "slow job"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True)
    # On SQLite the stack's worker and runner write beside this seeding: its units of work take the
    # write lock when they begin (and wait for it) instead of failing when they first write.
    with write_lock_first(), served.app_context():
        user = iam.create_user(email, "Watcher", PASSWORD)
        tenant = tm.create_tenant(slug, slug.title(), owner_id=user.id)
        repo = vcs.create_repository(tenant, {"name": "ticker"}, actor=user)
        db.session.commit()
        # Straight into the bare repository: this test is about watching, not pushing.
        subprocess.run(["git", "fetch", "-q", str(work), "main:main"], cwd=vcs.local_git_dir(repo), env=env,
                       check=True)
        pipeline = cicd.run_pipeline(tenant, "ticker", "main", actor=user)
        db.session.commit()
        ids = (pipeline.id, pipeline.jobs[0].id)
        db.session.remove()
    return email, *ids


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


SHORT_FILE = """\
jobs:
  nap:
    script:
      - sleep 6
      - echo rested
"""


def test_the_header_follows_the_pipeline_as_it_finishes(stack, page, tmp_path):  # noqa: F811
    email, pipeline_id, _job = _seed(stack.app, tmp_path, email="finisher@e2e.example", slug="finish",
                                     text=SHORT_FILE)
    sign_in(page, stack.url, email)
    page.goto(f"{stack.url}/t/finish/pipelines/{pipeline_id}")
    page.evaluate("window.__sameDocument = true")
    header = page.locator("[data-testid=pipeline-actions]")
    expect(header.locator("[data-testid=pipeline-cancel]")).to_be_visible()
    expect(header.locator("[data-testid=pipeline-retry]")).to_have_count(0)
    # It finishes while the page is open: the header's badge and buttons change in place.
    expect(page.locator("[data-testid=pipeline-header-status]")).to_have_attribute(
        "data-status", "success", timeout=60_000)
    expect(header.locator("[data-testid=pipeline-retry]")).to_be_visible()
    expect(header.locator("[data-testid=pipeline-cancel]")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True  # not by reloading
    # The Retry that appeared works.
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        header.locator("[data-testid=pipeline-retry]").click()
    assert re.search(r"/t/finish/pipelines/\d+$", page.url) and not page.url.endswith(f"/{pipeline_id}")


MANUAL_FILE = """\
jobs:
  build:
    script:
      - printf '\\033[0Ksection_start:1:deps\\r\\033[0KInstalling deps\\n'
      - echo building
      - printf '\\033[0Ksection_end:2:deps\\r\\033[0K\\n'
      - echo '<script>alert(1)</script>'
  deploy:
    needs: [build]
    when: manual
    script:
      - echo deploying
      - echo deployed
"""


def _git(cwd, env, *args):
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _seed_two_repositories(served, tmp_path) -> str:
    """A user owning tenant "play" with repositories "deployer" (main with MANUAL_FILE, a branch
    release and a tag v1) and "other" (main and next). Returns the user's email."""
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "E2E", "GIT_AUTHOR_EMAIL": "e2e@example.com",
           "GIT_COMMITTER_NAME": "E2E", "GIT_COMMITTER_EMAIL": "e2e@example.com"}
    # On SQLite the stack's worker and runner write beside this seeding: its units of work take the
    # write lock when they begin (and wait for it) instead of failing when they first write.
    with write_lock_first(), served.app_context():
        user = iam.create_user("player@e2e.example", "Player", PASSWORD)
        tenant = tm.create_tenant("play", "Play", owner_id=user.id)
        repos = {name: vcs.create_repository(tenant, {"name": name}, actor=user)
                 for name in ("deployer", "other")}
        db.session.commit()
        for name, repo in repos.items():
            work = tmp_path / f"work-{name}"
            work.mkdir()
            (work / ".taiji.yml").write_text(MANUAL_FILE)
            _git(work, env, "init", "-q", "-b", "main")
            _git(work, env, "add", "-A")
            _git(work, env, "commit", "-q", "-m", f"Ship the {name}\n\nWhy: people asked.")
            extra = ["release:release", "v1:refs/tags/v1"] if name == "deployer" else ["next:next"]
            _git(work, env, "branch", "release" if name == "deployer" else "next")
            if name == "deployer":
                _git(work, env, "tag", "v1")
            _git(vcs.local_git_dir(repo), env, "fetch", "-q", str(work), "main:main", *extra)
        db.session.remove()
    return "player@e2e.example"


def _options(page, testid: str) -> list[str]:
    return page.eval_on_selector_all(f"[data-testid={testid}] option", "els => els.map(e => e.value)")


def test_run_a_pipeline_with_the_pickers_play_its_manual_job_and_fold_the_log(stack, page, shot, tmp_path):  # noqa: F811
    email = _seed_two_repositories(stack.app, tmp_path)
    sign_in(page, stack.url, email)
    page.goto(f"{stack.url}/t/play/pipelines")
    picker = page.locator("[data-testid=repository-picker]")
    expect(picker).to_have_value("deployer")
    assert _options(page, "ref-picker") == ["main", "release", "v1"]
    expect(page.locator("[data-testid=ref-picker]")).to_have_value("main")
    # Choosing another repository brings its branches and tags (htmx), its default chosen.
    picker.select_option("other")
    expect(page.locator("[data-testid=ref-picker] option")).to_have_count(2)
    assert _options(page, "ref-picker") == ["main", "next"]
    expect(page.locator("[data-testid=ref-picker]")).to_have_value("main")
    picker.select_option("deployer")
    expect(page.locator("[data-testid=ref-picker] option")).to_have_count(3)
    shot(page, "pipelines-run-form")
    with page.expect_navigation():
        page.click("[data-testid=run-submit]")

    # The commit, by its title, linked to its page in VCS.
    expect(page.locator("[data-testid=commit-title]")).to_have_text("Ship the deployer")
    expect(page.locator("[data-testid=commit-link]")).to_have_attribute(
        "href", re.compile(r"/repositories/deployer/commit/[0-9a-f]{40}$"))
    expect(page.locator("[data-testid=commit-body] summary")).to_be_visible()
    # The manual job reads manual from the start, whatever build is doing.
    row = page.locator("[data-testid=job-row][data-job=deploy]")
    expect(row).to_have_attribute("data-status", "manual")
    expect(page.locator("[data-testid=job-node][data-job=build]")).to_have_attribute("data-status", "success",
                                                                                      timeout=60_000)
    expect(page.locator("[data-testid=job-node][data-job=deploy]")).to_have_attribute("data-status", "manual")
    shot(page, "pipeline-manual-job")
    with page.expect_navigation():
        page.get_by_role("button", name="Play deploy").click()
    deploy = page.locator("[data-testid=job-node][data-job=deploy]")
    expect(deploy).to_have_attribute("data-status", "success", timeout=60_000)
    status = page.locator("[data-testid=pipeline-status]")
    expect(status).to_have_attribute("data-status", "success", timeout=15_000)

    # The job's log: numbered, timed lines; its sections fold.
    page.click("[data-testid=job-node][data-job=build]")
    log = page.locator("[data-testid=job-log]")
    expect(log).to_contain_text("building")
    assert log.locator(".log-line").count() >= 5
    assert log.locator(".log-time[data-time]").count() == log.locator(".log-line:not(.log-cont)").count()
    number = "getComputedStyle(document.querySelector('#job-log .log-line'), '::before').content"
    assert page.evaluate(number) not in ("none", "normal", "")
    # Numbers and times are drawn, not text: what one reads (and copies) is the output itself.
    assert page.inner_text("[data-testid=job-log]").lstrip().startswith("Running on")
    # A job's output stays text.
    expect(log).to_contain_text("<script>alert(1)</script>")
    header = log.locator(".log-section", has_text="$ echo building")
    output = log.locator(".log-line", has_text=re.compile(r"^\s*building\s*$"))
    expect(output).to_be_visible()
    header.locator("[data-log-fold]").click()
    expect(output).to_be_hidden()
    expect(header.locator("[data-log-fold]")).to_have_attribute("aria-expanded", "false")
    expect(header).to_be_visible()
    shot(page, "job-log-folded")
    header.locator("[data-log-fold]").click()
    expect(output).to_be_visible()
    # A named section (GitLab's markers) folds up to its end, script lines within included.
    named = log.locator(".log-section[data-section=deps]")
    expect(named).to_have_text(re.compile(r"Installing deps"))
    expect(named).not_to_contain_text("section_start")  # the marker is read, not shown
    named.locator("[data-log-fold]").click()
    expect(header).to_be_hidden()
    expect(output).to_be_hidden()
    expect(log.locator(".log-section", has_text="alert(1)")).to_be_visible()
    named.locator("[data-log-fold]").click()
    expect(header).to_be_visible()
    expect(output).to_be_visible()

    # In Chinese, the play control has its label too.
    page.goto(f"{stack.url}/t/play/pipelines")
    with page.expect_navigation():
        page.click("[data-testid=run-submit]")
    page.set_extra_http_headers({"Accept-Language": "zh-CN"})
    page.reload()
    # The new pipeline's jobs are made by the worker: on a loaded machine that takes seconds.
    expect(page.get_by_role("button", name="运行 deploy")).to_be_visible(timeout=30_000)
