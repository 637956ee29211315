"""The jenkins runner against the fake controller (tests/fakes/jenkins.py): every state of a job."""

from __future__ import annotations

import pytest

from tests.modules.cicd.jenkins_helpers import (  # noqa: F401 - fixtures
    allow_loopback,
    build_row,
    dispatch_pending,
    drive,
    fake,
    poll,
    register,
)

pytestmark = pytest.mark.live


def _file(body: str) -> dict:
    return {".taiji.yml": body}


def test_a_job_runs_on_jenkins_with_its_env_secret_masked_reports_and_artifacts(ci, fake, allow_loopback):
    from taiji.modules.cicd import services

    register(ci, fake)
    ci.call(lambda t: services.set_secret(t, "DEPLOY_KEY", "s3cret-deploy-value", protected=False) and None)
    repo = ci.repo(_file("""
jobs:
  test:
    runner: jenkins
    jenkins: {checkout: false}
    env: {GREETING: "hello from env"}
    secrets: [DEPLOY_KEY]
    timeout: 5m
    script:
      - echo "$GREETING on $TAIJI_REPOSITORY at $TAIJI_COMMIT_SHA"
      - echo "key is $DEPLOY_KEY"
      - mkdir -p reports dist && echo built > dist/app.txt
      - printf '<testsuite tests="2"><testcase classname="t" name="ok"/><testcase classname="t" name="bad"><failure message="boom"/></testcase></testsuite>' > reports/junit.xml
    reports: {junit: reports/*.xml}
    artifacts: {paths: [dist/]}
"""))
    state = drive(ci, ci.run(repo))
    job = state["jobs"]["test"]
    # One failing test case makes the Jenkins build UNSTABLE: a failed job with that reason.
    assert (state["status"], job["status"], job["reason"]) == ("failed", "failed", "unstable"), state
    log = ci.log(job["id"])
    assert "hello from env on " + repo in log
    assert "key is ****" in log and "s3cret-deploy-value" not in log
    assert job["junit"]["tests"] == 2 and job["junit"]["failures"] == 1
    assert job["junit"]["failed_cases"][0]["message"] == "boom"
    generated = fake.generated()[0]
    # The secret never appears in the Jenkinsfile: it is a password parameter of the build.
    assert "s3cret-deploy-value" not in generated.config
    assert "<hudson.model.PasswordParameterDefinition>" in generated.config
    assert "timeout(time: 300, unit: 'SECONDS')" in generated.config
    trigger = next(r for r in fake.requests if r["path"].endswith("/buildWithParameters"))
    assert "s3cret" not in trigger["query"] and b"s3cret-deploy-value" in trigger["body"]


def test_success_brings_the_artifacts_back(ci, fake, allow_loopback):
    register(ci, fake)
    repo = ci.repo(_file("""
jobs:
  package:
    runner: jenkins
    jenkins: {checkout: false}
    script:
      - mkdir -p dist && echo wheel-bytes > dist/app-1.0.whl && echo other > notes.txt
    artifacts: {paths: [dist/]}
"""))
    state = drive(ci, ci.run(repo))
    job = state["jobs"]["package"]
    assert job["status"] == "success", ci.log(job["id"])
    assert [(path, size) for path, size, _published in job["artifacts"]] == [("dist/app-1.0.whl", 12)]
    assert "Jenkins build #1 started" in ci.log(job["id"])

