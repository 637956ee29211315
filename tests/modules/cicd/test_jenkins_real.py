"""The jenkins runner against a real Jenkins, when one is given:

    TAIJI_TEST_JENKINS_URL=https://jenkins.example.com TAIJI_TEST_JENKINS_USER=taiji \
    TAIJI_TEST_JENKINS_TOKEN=<API token> .venv/bin/pytest tests/modules/cicd/test_jenkins_real.py

The controller needs the Pipeline and JUnit plugins and an agent with `sh`; the user, the
permissions listed in docs/runners.md. The generated jobs (taiji-*) stay on the controller.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

import pytest

from tests.modules.cicd.jenkins_helpers import drive

URL = os.environ.get("TAIJI_TEST_JENKINS_URL", "")
USER = os.environ.get("TAIJI_TEST_JENKINS_USER", "")
TOKEN = os.environ.get("TAIJI_TEST_JENKINS_TOKEN", "")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not (URL and USER and TOKEN), reason="set TAIJI_TEST_JENKINS_URL, _USER and _TOKEN"),
]


@pytest.fixture
def real(ci, ci_app):
    from taiji.modules.cicd.jenkins import controllers

    previous = ci_app.config.get("CICD_JENKINS_ALLOWED_HOSTS")
    # The operator's own Jenkins may well be on a private or loopback address.
    ci_app.config["CICD_JENKINS_ALLOWED_HOSTS"] = (urlsplit(URL).hostname,)
    data = {"name": "real", "url": URL, "username": USER, "token": TOKEN}
    ci.call(lambda tenant: controllers.create_controller(tenant, data) and None)
    yield ci
    ci_app.config["CICD_JENKINS_ALLOWED_HOSTS"] = previous


def test_test_connection_against_the_real_controller(real):
    from taiji.modules.cicd.jenkins import controllers

    result = real.call(
        lambda tenant: controllers.test_connection(tenant, controllers.get_controller(tenant, "real"))
    )
    assert result["ok"], result
    assert result["user"] == USER


def test_a_generated_job_runs_streams_and_reports_on_the_real_controller(real):
    marker = uuid.uuid4().hex
    repo = real.repo(
        {
            ".taiji.yml": f"""
jobs:
  real:
    runner: jenkins
    jenkins: {{checkout: false}}
    env: {{MARKER: "{marker}"}}
    timeout: 5m
    script:
      - echo "marker $MARKER"
      - mkdir -p reports out && echo kept > out/file.txt
      - printf '<testsuite tests="1"><testcase classname="t" name="ok"/></testsuite>' > reports/junit.xml
    reports: {{junit: reports/*.xml}}
    artifacts: {{paths: [out/]}}
"""
        }
    )
    state = drive(real, real.run(repo), timeout=600, pause=1)
    job = state["jobs"]["real"]
    log = real.log(job["id"])
    assert job["status"] == "success", log
    assert f"marker {marker}" in log
    assert job["junit"]["tests"] == 1
    assert [path for path, _size, _published in job["artifacts"]] == ["out/file.txt"]


def test_a_failing_job_fails_on_the_real_controller(real):
    repo = real.repo(
        {
            ".taiji.yml": "jobs:\n  bad:\n    runner: jenkins\n    jenkins: {checkout: false}\n"
            "    script: [echo before, exit 4]\n"
        }
    )
    state = drive(real, real.run(repo), timeout=600, pause=1)
    job = state["jobs"]["bad"]
    assert (job["status"], job["reason"]) == ("failed", "exit_status"), real.log(job["id"])
