"""The built-in runner against a committed database: jobs run for real, in threads of this process."""

from __future__ import annotations

import random
import time

import pytest

pytestmark = pytest.mark.live


def test_dag_runs_needs_in_order_and_independent_jobs_in_parallel(ci):
    repo = ci.repo(
        {
            ".taiji.yml": """
jobs:
  left:
    script: [sleep 0.5, echo left done]
  right:
    script: [sleep 0.5, echo right done]
  join:
    needs: [left, right]
    script: [echo joined]
"""
        }
    )
    state = ci.drive(ci.run(repo))
    jobs = state["jobs"]
    assert state["status"] == "success", state
    left, right, join = jobs["left"], jobs["right"], jobs["join"]
    # left and right overlap in time; join starts only after both ended.
    assert left["started_at"] < right["finished_at"] and right["started_at"] < left["finished_at"]
    assert join["started_at"] >= max(left["finished_at"], right["finished_at"])
    assert "joined" in ci.log(join["id"])
    assert "$ echo left done" in ci.log(left["id"])


def test_first_failing_line_fails_the_job_and_skips_what_needs_it(ci):
    repo = ci.repo(
        {
            ".taiji.yml": """
jobs:
  build:
    script: [echo one, "exit 3", echo never]
  optional:
    allow_failure: true
    script: ["false"]
  deploy:
    needs: [build]
    script: [echo deploying]
"""
        }
    )
    state = ci.drive(ci.run(repo))
    assert state["status"] == "failed"
    build = state["jobs"]["build"]
    assert (build["status"], build["reason"], build["exit_code"]) == ("failed", "exit_status", 3)
    assert "never" not in ci.log(build["id"]).replace("$ echo never", "")
    assert state["jobs"]["deploy"]["status"] == "skipped"
    assert state["jobs"]["optional"]["status"] == "failed"


def _wait(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def processes_with(marker: str) -> list:
    """Live processes whose command line holds ``marker`` (jobs run `sleep <marker>`): what a job
    left behind is found from the host, whatever namespace it runs in."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_cancel_kills_the_whole_process_tree(ci):
    from taiji.modules.cicd import services

    marker = f"{300 + random.random():.7f}"
    repo = ci.repo(
        {
            ".taiji.yml": f"""
jobs:
  long:
    script: ['sh -c "sleep {marker} & wait"']
"""
        }
    )
    pipeline_id = ci.run(repo)
    ci.drive(pipeline_id, until=lambda s: s["jobs"]["long"]["status"] == "running")
    _wait(lambda: processes_with(marker), what="the sleep grandchild")
    ci.call(services.cancel_pipeline, pipeline_id)
    _wait(lambda: not processes_with(marker), timeout=15, what="the sleep grandchild to be gone")
    ci.join()
    state = ci.pipeline(pipeline_id)
    assert state["status"] == "canceled"
    job = state["jobs"]["long"]
    assert (job["status"], job["reason"]) == ("canceled", "canceled")
    assert "Job canceled" in ci.log(job["id"])


def test_a_job_over_its_timeout_is_stopped(ci):
    repo = ci.repo({".taiji.yml": "jobs:\n  slow:\n    timeout: 1s\n    script: [echo started, sleep 60]\n"})
    began = time.monotonic()
    state = ci.drive(ci.run(repo), timeout=30)
    assert time.monotonic() - began < 20
    job = state["jobs"]["slow"]
    assert (state["status"], job["status"], job["reason"]) == ("failed", "failed", "timeout")
    assert "longer than its timeout" in ci.log(job["id"])


def test_secrets_are_given_to_jobs_and_masked_in_the_log_even_when_split(ci):
    from taiji.modules.cicd import services

    secret = "s3cr3t-value-0123456789"
    # Unprotected, so that a job of any branch receives it (test_secret_protection covers the rest).
    ci.call(services.set_secret, "DEPLOY_TOKEN", secret, protected=False)
    repo = ci.repo(
        {
            ".taiji.yml": """
jobs:
  deploy:
    secrets: [DEPLOY_TOKEN]
    script:
      - echo "token=$DEPLOY_TOKEN"
      - printf 's3cr3t-value'; sleep 0.5; printf -- '-0123456789 tail\\n'
      - test "$DEPLOY_TOKEN" = s3cr3t-value-0123456789
"""
        }
    )
    state = ci.drive(ci.run(repo))
    assert state["status"] == "success", ci.log(state["jobs"]["deploy"]["id"])
    text = ci.log(state["jobs"]["deploy"]["id"])
    assert secret not in text and "s3cr3t-value" not in text.replace("printf 's3cr3t-value'", "")
    assert "token=****" in text and "**** tail" in text


def test_jobs_cannot_see_the_platforms_environment(ci, monkeypatch):
    monkeypatch.setenv("TAIJI_SECRET_KEY", "platform-secret-key-abc")
    monkeypatch.setenv("TAIJI_DATABASE_URL", "postgresql://taiji:hunter2@db.internal/taiji")
    repo = ci.repo(
        {
            ".taiji.yml": """
env: {FILE_LEVEL: from-file}
jobs:
  spy:
    env: {JOB_LEVEL: from-job}
    script:
      - env | sort
      - cat /proc/self/environ | tr '\\000' '\\n'
      - cat /proc/$PPID/environ | tr '\\000' '\\n'
"""
        }
    )
    state = ci.drive(ci.run(repo, variables={"GIVEN": "by-hand"}))
    text = ci.log(state["jobs"]["spy"]["id"])
    assert state["status"] == "success"
    for leaked in (
        "platform-secret-key-abc",
        "hunter2",
        "TAIJI_SECRET_KEY",
        "TAIJI_DATABASE_URL",
        "test-secret-key",
        ci.app.config["SQLALCHEMY_DATABASE_URI"],
    ):
        assert leaked not in text
    for wanted in (
        "CI=true",
        "FILE_LEVEL=from-file",
        "JOB_LEVEL=from-job",
        "GIVEN=by-hand",
        "TAIJI_COMMIT_SHA=",
        "TAIJI_REF=refs/heads/main",
    ):
        assert wanted in text


def test_a_broken_file_fails_at_once_with_its_line_and_runs_nothing(ci):
    repo = ci.repo(
        {
            ".taiji.yml": "jobs:\n  build:\n    script: [make]\n  package:\n    needs: [biuld]\n"
            "    script: [make dist]\n"
        }
    )
    pipeline_id = ci.run(repo)
    state = ci.pipeline(pipeline_id)
    assert state["status"] == "error"
    assert state["error"] == ".taiji.yml: line 5: job 'package' needs unknown job 'biuld'; check the name"
    assert state["jobs"] == {}


def test_output_over_the_limit_stops_the_job(ci):
    ci.app.config["CICD_OUTPUT_LIMIT_MB"] = 1
    try:
        repo = ci.repo({".taiji.yml": "jobs:\n  noisy:\n    script: ['yes | head -c 5000000', echo after]\n"})
        state = ci.drive(ci.run(repo))
    finally:
        ci.app.config["CICD_OUTPUT_LIMIT_MB"] = 100
    job = state["jobs"]["noisy"]
    assert (job["status"], job["reason"]) == ("failed", "output_limit")
    # Stopped at the limit, and what the job wrote while it was being stopped is not kept: the log
    # is the limit plus at most the last read (64 KiB) and the closing message.
    assert 1024 * 1024 < job["log_size"] < 1024 * 1024 + 256 * 1024


def test_manual_jobs_wait_until_played_and_a_failed_job_can_be_retried(ci):
    from taiji.modules.cicd import services

    repo = ci.repo(
        {
            ".taiji.yml": """
jobs:
  flaky:
    script: ['test "$TAIJI_JOB_ATTEMPT" -ge 2']
  deploy:
    needs: [flaky]
    when: manual
    script: [echo deployed]
"""
        }
    )
    pipeline_id = ci.run(repo)
    state = ci.drive(pipeline_id)
    assert state["status"] == "failed" and state["jobs"]["deploy"]["status"] == "skipped"
    ci.call(services.retry_job, state["jobs"]["flaky"]["id"])
    # Manual again at once (not "created" while flaky runs), and still waiting once flaky passed.
    assert ci.pipeline(pipeline_id)["jobs"]["deploy"]["status"] == "manual"
    state = ci.drive(pipeline_id, until=lambda s: s["jobs"]["flaky"]["status"] == "success")
    assert state["jobs"]["deploy"]["status"] == "manual"
    assert state["jobs"]["flaky"]["attempt"] == 2 and state["jobs"]["flaky"]["status"] == "success"
    assert state["status"] == "success"  # a manual job nobody played does not hold the pipeline open
    ci.call(services.play_job, state["jobs"]["deploy"]["id"])
    state = ci.drive(pipeline_id, until=lambda s: s["jobs"]["deploy"]["status"] == "success")
    assert "deployed" in ci.log(state["jobs"]["deploy"]["id"])
    assert ci.pipeline(pipeline_id)["status"] == "success"


PYPROJECT = """[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "ci-hello"
version = "0.1.{n}"
"""


def test_artifacts_are_kept_and_published_to_binary_repositories(ci):
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db

    with ci.ctx():
        bpr.create_repository(ci.tenant(), {"name": "pypi-internal", "kind": "pypi"})
        bpr.create_repository(ci.tenant(), {"name": "files", "kind": "generic"})
        db.session.commit()
        db.session.remove()
    repo = ci.repo(
        {
            "pyproject.toml": PYPROJECT.format(n=1),
            "ci_hello/__init__.py": "VALUE = 1\n",
            ".taiji.yml": """
jobs:
  package:
    script:
      - python -m pip wheel --no-deps --no-build-isolation -q -w dist .
      - mkdir -p out && echo report > out/report.txt && ln -s /etc/passwd out/escape.txt
    artifacts:
      paths: [dist/*.whl]
      publish: {repository: pypi-internal}
  report:
    script:
      - mkdir -p out
      - echo '<testsuite tests="3" failures="1" errors="0" skipped="1"/>' > out/j.xml
      - ln -s /etc/passwd out/escape.txt
      - echo kept > out/kept.txt
    reports: {junit: out/j.xml}
    artifacts:
      paths: [out/]
      expire_in: 1h
      publish: {repository: files}
""",
        }
    )
    state = ci.drive(ci.run(repo), timeout=120)
    package, report = state["jobs"]["package"], state["jobs"]["report"]
    assert state["status"] == "success", ci.log(package["id"]) + ci.log(report["id"])
    [(path, size, published)] = package["artifacts"]
    assert path == "dist/ci_hello-0.1.1-py3-none-any.whl" and size > 0
    assert published["repository"] == "pypi-internal" and "error" not in published
    assert sorted(a[0] for a in report["artifacts"]) == ["out/j.xml", "out/kept.txt"]  # no symlink escape
    assert (
        report["junit"]["tests"] == 3 and report["junit"]["failures"] == 1 and report["junit"]["passed"] == 1
    )
    with ci.ctx():
        index = bpr.get_repository(ci.tenant(), "pypi-internal")
        assert [f.filename for f in bpr.project_files(index, "ci-hello")] == [
            "ci_hello-0.1.1-py3-none-any.whl"
        ]
        assert bpr.find_file(bpr.get_repository(ci.tenant(), "files"), "kept.txt") is not None
        db.session.remove()
    # The same version again is refused by the index: the job fails and says why.
    again = ci.drive(ci.run(repo, "main"), timeout=120)
    assert again["jobs"]["package"]["status"] == "failed" and again["jobs"]["package"]["reason"] == "system"
    assert "Could not publish dist/ci_hello-0.1.1-py3-none-any.whl" in ci.log(again["jobs"]["package"]["id"])
