"""The jenkins runner against the fake controller (tests/fakes/jenkins.py): every state of a job."""

from __future__ import annotations

import pytest

from tests.fakes.jenkins import FakeJenkins
from tests.modules.cicd.jenkins_helpers import (
    TOKEN,
    WAIT_FOR_RELEASE,
    build_row,
    drive,
    poll,
    register,
    release,
    wait_for,
)

pytestmark = pytest.mark.live


def _file(body: str) -> dict:
    return {".taiji.yml": body}


def test_a_job_runs_on_jenkins_with_its_env_secret_masked_reports_and_artifacts(ci, fake, allow_loopback):
    from taiji.modules.cicd import services

    register(ci, fake)
    ci.call(lambda t: services.set_secret(t, "DEPLOY_KEY", "s3cret-deploy-value", protected=False) and None)
    repo = ci.repo(
        _file("""
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
      - printf '<testsuite tests="2"><testcase classname="t" name="ok"/>' > reports/junit.xml
      - printf '<testcase classname="t" name="bad"><failure message="boom"/></testcase>' >> reports/junit.xml
      - printf '</testsuite>' >> reports/junit.xml
    reports: {junit: reports/*.xml}
    artifacts: {paths: [dist/]}
""")
    )
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
    repo = ci.repo(
        _file("""
jobs:
  package:
    runner: jenkins
    jenkins: {checkout: false}
    script:
      - mkdir -p dist && echo wheel-bytes > dist/app-1.0.whl && echo other > notes.txt
    artifacts: {paths: [dist/]}
""")
    )
    state = drive(ci, ci.run(repo))
    job = state["jobs"]["package"]
    assert job["status"] == "success", ci.log(job["id"])
    assert [(path, size) for path, size, _published in job["artifacts"]] == [("dist/app-1.0.whl", 12)]
    assert "Jenkins build #1 started" in ci.log(job["id"])


def test_artifacts_of_a_jenkins_build_are_published_to_a_binary_repository(ci, fake, allow_loopback):
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db

    register(ci, fake)
    with ci.ctx():
        bpr.create_repository(ci.tenant(), {"name": "files", "kind": "generic"})
        db.session.commit()
        db.session.remove()
    repo = ci.repo(
        _file("""
jobs:
  package:
    runner: jenkins
    jenkins: {checkout: false}
    script:
      - mkdir -p dist && echo tarball-bytes > dist/app-1.0.tar
    artifacts: {paths: [dist/], publish: {repository: files}}
""")
    )
    state = drive(ci, ci.run(repo))
    job = state["jobs"]["package"]
    assert job["status"] == "success", ci.log(job["id"])
    [(path, _size, published)] = job["artifacts"]
    assert path == "dist/app-1.0.tar" and published["repository"] == "files" and "error" not in published
    assert "Published dist/app-1.0.tar to files" in ci.log(job["id"])
    with ci.ctx():
        assert bpr.find_file(bpr.get_repository(ci.tenant(), "files"), "app-1.0.tar") is not None
        db.session.remove()


def _job(state: dict) -> dict:
    return next(iter(state["jobs"].values()))


def test_queued_then_running_with_the_log_streamed_then_failed_with_the_exit_status(ci, fake, allow_loopback):
    register(ci, fake)
    fake.hold_queue = True
    repo = ci.repo(
        _file(f"""
jobs:
  slow:
    runner: jenkins
    jenkins: {{checkout: false}}
    script:
      - echo first-line
      - {WAIT_FOR_RELEASE}
      - echo last-line
      - exit 3
""")
    )
    pipeline_id = ci.run(repo)
    state = drive(ci, pipeline_id, until=lambda s: "Waiting on Jenkins" in ci.log(_job(s)["id"]))
    assert _job(state)["status"] == "pending"  # queued on the controller: not running yet
    fake.hold_queue = False
    state = drive(ci, pipeline_id, until=lambda s: "first-line" in ci.log(_job(s)["id"]))
    # The console text arrives while the build still runs.
    assert _job(state)["status"] == "running"
    assert "last-line" not in ci.log(_job(state)["id"])
    release(fake, fake.build_of(fake.generated()[0].name))
    state = drive(ci, pipeline_id)
    job = _job(state)
    assert (job["status"], job["reason"]) == ("failed", "exit_status")
    log = ci.log(job["id"])
    assert "last-line" in log and "ERROR: script returned exit code 3" in log
    assert "Job failed: the Jenkins build failed" in log


def test_cancel_stops_the_running_build(ci, fake, allow_loopback):
    from taiji.modules.cicd import services

    register(ci, fake)
    repo = ci.repo(
        _file(
            "jobs:\n  long:\n    runner: jenkins\n    jenkins: {checkout: false}\n"
            "    script: [echo started, sleep 30, echo never]\n"
        )
    )
    pipeline_id = ci.run(repo)
    state = drive(ci, pipeline_id, until=lambda s: "started" in ci.log(_job(s)["id"]))
    ci.call(lambda t: services.cancel_pipeline(t, pipeline_id) and None)
    poll(ci)  # what the cicd.jenkins_follow task queued by the cancel does
    build = fake.build_of(fake.generated()[0].name)
    deadline = __import__("time").monotonic() + 10
    while build.building and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.1)
    assert (build.building, build.result) == (False, "ABORTED")
    assert any(r["path"].endswith(f"/{build.number}/stop") for r in fake.requests)
    state = ci.pipeline(pipeline_id)
    job = _job(state)
    assert (state["status"], job["status"]) == ("canceled", "canceled")
    assert "The Jenkins build was stopped" in ci.log(job["id"])
    assert build_row(ci, job["id"]).done


def test_cancel_while_queued_cancels_the_queue_item(ci, fake, allow_loopback):
    from taiji.modules.cicd import services

    register(ci, fake)
    fake.hold_queue = True
    repo = ci.repo(
        _file("jobs:\n  q:\n    runner: jenkins\n    jenkins: {checkout: false}\n    script: [echo x]\n")
    )
    pipeline_id = ci.run(repo)
    drive(ci, pipeline_id, until=lambda s: "Waiting on Jenkins" in ci.log(_job(s)["id"]))
    ci.call(lambda t: services.cancel_pipeline(t, pipeline_id) and None)
    poll(ci)
    fake.hold_queue = False
    assert any(r["path"] == "/queue/cancelItem" for r in fake.requests)
    item = next(iter(fake.queue.values()))
    assert item.cancelled and item.build is None
    assert _job(ci.pipeline(pipeline_id))["status"] == "canceled"


def test_controller_down_is_a_clear_job_error(ci, fake, allow_loopback):
    register(ci, fake)
    fake.down()
    repo = ci.repo(_file("jobs:\n  j:\n    runner: jenkins\n    script: [echo x]\n"))
    state = drive(ci, ci.run(repo))
    job = _job(state)
    assert (job["status"], job["reason"]) == ("failed", "system")
    assert (
        f"Jenkins controller 'main' at 127.0.0.1:{fake.port} cannot be reached (the connection was refused)"
        in ci.log(job["id"])
    )


def test_controller_going_down_mid_build_fails_the_job_after_the_lost_runner_delay(
    ci, fake, allow_loopback, monkeypatch
):
    monkeypatch.setitem(ci.app.config, "CICD_RUNNER_LOST_SECONDS", 1)
    register(ci, fake)
    repo = ci.repo(
        _file(
            "jobs:\n  j:\n    runner: jenkins\n    jenkins: {checkout: false}\n"
            "    script: [echo up, sleep 20]\n"
        )
    )
    pipeline_id = ci.run(repo)
    drive(ci, pipeline_id, until=lambda s: "up" in ci.log(_job(s)["id"]).split("+ echo up")[-1])
    fake.down()
    state = drive(ci, pipeline_id, timeout=30, pause=0.2)
    job = _job(state)
    assert (job["status"], job["reason"]) == ("failed", "runner_lost")
    assert "for 1s Taiji could not follow the Jenkins build" in ci.log(job["id"])


def test_bad_credentials_are_a_clear_job_error(ci, fake, allow_loopback):
    register(ci, fake, token="not-the-token")
    repo = ci.repo(_file("jobs:\n  j:\n    runner: jenkins\n    script: [echo x]\n"))
    state = drive(ci, ci.run(repo))
    job = _job(state)
    assert job["status"] == "failed"
    assert "refused the user 'taiji' and its API token (HTTP 401)" in ci.log(job["id"])
    assert not fake.jobs  # nothing was created with credentials it refused


def test_runner_jenkins_without_a_controller_fails_with_the_reason(ci, fake, allow_loopback):
    repo = ci.repo(_file("jobs:\n  j:\n    runner: jenkins\n    script: [echo x]\n"))
    state = drive(ci, ci.run(repo))
    job = _job(state)
    assert (state["status"], job["status"]) == ("failed", "failed")
    assert "this tenant has no Jenkins controller" in ci.log(job["id"])


def test_a_named_controller_that_does_not_exist_fails_with_the_reason(ci, fake, allow_loopback):
    register(ci, fake, name="one")
    register(ci, fake, name="two")
    repo = ci.repo(
        _file(
            "jobs:\n  a:\n    jenkins: {controller: three}\n    script: [echo x]\n"
            "  b:\n    runner: jenkins\n    script: [echo x]\n"
        )
    )
    state = drive(ci, ci.run(repo))
    assert "no Jenkins controller named 'three'" in ci.log(state["jobs"]["a"]["id"])
    assert "2 Jenkins controllers and none is the default" in ci.log(state["jobs"]["b"]["id"])


def test_a_step_triggers_an_existing_job_with_parameters_and_follows_it(ci, fake, allow_loopback):
    register(ci, fake)
    fake.add_job("deploy-prod", ['echo "deploying $VERSION to $TARGET"'])
    repo = ci.repo(
        _file("""
jobs:
  deploy:
    jenkins:
      job: deploy-prod
      parameters: {VERSION: "1.2.3", TARGET: prod}
""")
    )
    state = drive(ci, ci.run(repo))
    job = _job(state)
    assert job["status"] == "success", ci.log(job["id"])
    assert "deploying 1.2.3 to prod" in ci.log(job["id"])
    assert [b.parameters for b in fake.jobs["deploy-prod"].builds] == [{"VERSION": "1.2.3", "TARGET": "prod"}]
    assert fake.jobs["deploy-prod"].config == ""  # an existing job is built, never reconfigured


def test_an_existing_job_the_controller_does_not_have_is_a_clear_error(ci, fake, allow_loopback):
    register(ci, fake)
    repo = ci.repo(_file("jobs:\n  deploy:\n    jenkins: {job: nowhere}\n"))
    state = drive(ci, ci.run(repo))
    assert "Jenkins controller 'main' has no job 'nowhere'" in ci.log(_job(state)["id"])


def test_the_repository_default_runner_sends_jobs_without_a_runner_to_jenkins(ci, fake, allow_loopback):
    from taiji.modules.cicd.services import runner_settings

    register(ci, fake)
    repo = ci.repo(_file("jobs:\n  j:\n    script: [echo via-default]\n"))
    ci.call(lambda t: runner_settings.set_settings(t, repo, {"default_runner": "jenkins"}) and None)
    state = drive(ci, ci.run(repo))
    job = _job(state)
    # No checkout: false here, so the generated job clones first; the fake has nowhere to clone from.
    assert fake.generated(), ci.log(job["id"])
    assert "git clone --quiet --no-checkout" in ci.log(job["id"])


def test_script_lines_reach_sh_as_text_never_as_groovy(ci, fake, allow_loopback):
    import xml.etree.ElementTree as ET

    import yaml

    from tests.fakes.jenkins import parse_jenkinsfile

    register(ci, fake)
    # Each value tries to leave its Groovy string literal and run code on the controller.
    lines = [
        "echo 'a'; echo ' + Jenkins.instance.doSafeExit(null) + '",
        r"""printf '%s\n' "\'''" '${7*7}' "\\'" """,
        "echo line1\necho \"line2'); sh('id')\"",
        'echo "$X"',
    ]
    spec = {
        "runner": "jenkins",
        "jenkins": {"checkout": False},
        "env": {"X": "'; evil() //"},
        "script": lines,
    }
    repo = ci.repo(_file(yaml.safe_dump({"jobs": {"inj": spec}})))
    state = drive(ci, ci.run(repo))
    job = _job(state)
    log = ci.log(job["id"])
    assert job["status"] == "success", log
    generated = fake.generated()[0]
    script = ET.fromstring(generated.config).find("./definition/script").text  # noqa: S314
    parsed = parse_jenkinsfile(script)
    # Exactly the job's lines, byte for byte, each one `sh` step, and nothing else runs.
    assert parsed.steps == lines
    assert parsed.env == {"X": "'; evil() //"}
    assert "${7*7}" in log and "'; evil() //" in log
    assert len([line for line in script.splitlines() if line.strip().startswith("sh ")]) == len(lines)


def test_a_build_that_runs_out_its_timeout_fails_with_timeout_and_a_retry_is_a_new_build(
    ci, fake, allow_loopback
):
    from taiji.modules.cicd import services

    register(ci, fake)
    repo = ci.repo(
        _file(
            "jobs:\n  t:\n    runner: jenkins\n    jenkins: {checkout: false}\n    timeout: 1s\n"
            "    script: [echo go, sleep 20]\n"
        )
    )
    pipeline_id = ci.run(repo)
    state = drive(ci, pipeline_id, timeout=30)
    job = _job(state)
    assert (job["status"], job["reason"]) == ("failed", "timeout"), ci.log(job["id"])
    assert "ran longer than its timeout (1s)" in ci.log(job["id"])
    ci.call(lambda t: services.retry_job(t, job["id"]) and None)
    state = drive(ci, pipeline_id, until=lambda s: _job(s)["attempt"] == 2 and _job(s)["status"] == "failed")
    item = fake.generated()[0]
    assert [b.number for b in item.builds] == [1, 2]  # the same definition, built again
    assert build_row(ci, job["id"]).attempt == 2


@pytest.mark.parametrize(
    ("result", "reason", "message"),
    [
        ("NOT_BUILT", "system", "Jenkins did not build it (NOT_BUILT)"),
        ("ABORTED", "canceled", "the Jenkins build was aborted on the controller"),
        ("UNSTABLE", "unstable", "the Jenkins build is unstable"),
    ],
)
def test_each_result_of_jenkins_is_a_state_of_taiji(ci, fake, allow_loopback, result, reason, message):
    register(ci, fake)
    fake.force_result = result
    repo = ci.repo(
        _file("jobs:\n  r:\n    runner: jenkins\n    jenkins: {checkout: false}\n    script: [echo x]\n")
    )
    job = _job(drive(ci, ci.run(repo)))
    assert (job["status"], job["reason"]) == ("failed", reason)
    assert message in ci.log(job["id"])


def test_a_secret_split_across_two_polls_is_still_masked(ci, fake, allow_loopback):
    from taiji.modules.cicd import services

    register(ci, fake)
    ci.call(lambda t: services.set_secret(t, "SPLIT_KEY", "s3cret-split-value", protected=False) and None)
    # Half the secret, a wait until Taiji has polled that half, the other half: the log's text
    # arrives in two pieces, neither of which holds the whole value.
    step = (
        'set +x; K="$SPLIT_KEY"; printf "%s" "${K%????????????}"; '
        'while [ ! -e release ]; do sleep 0.05; done; printf "%s\\n" "${K#??????}"'
    )
    spec = {"runner": "jenkins", "jenkins": {"checkout": False}, "secrets": ["SPLIT_KEY"], "script": [step]}
    import yaml

    repo = ci.repo(_file(yaml.safe_dump({"jobs": {"split": spec}})))
    pipeline_id = ci.run(repo)
    drive(ci, pipeline_id, until=lambda s: _job(s)["status"] == "running")
    build = fake.build_of(fake.generated()[0].name)
    wait_for(lambda: b"s3cret" in build.log, what="the first half on the controller")
    first_half = bytes(build.log).index(b"s3cret") + len(b"s3cret")
    # Taiji has copied the first half, and holds it back as it may begin a secret.
    state = drive(ci, pipeline_id, until=lambda s: build_row(ci, _job(s)["id"]).log_offset >= first_half)
    assert build_row(ci, _job(state)["id"]).held_sealed
    release(fake, build)
    job = _job(drive(ci, pipeline_id))
    log = ci.log(job["id"])
    assert job["status"] == "success", log
    assert "s3cret" not in log and "split-value" not in log
    assert "****" in log


def test_a_cancel_while_the_controller_is_down_stops_the_build_once_it_is_back(ci, fake, allow_loopback):
    import time

    from taiji.modules.cicd import services

    register(ci, fake)
    repo = ci.repo(
        _file(
            "jobs:\n  long:\n    runner: jenkins\n    jenkins: {checkout: false}\n"
            "    script: [echo started, sleep 30]\n"
        )
    )
    pipeline_id = ci.run(repo)
    drive(ci, pipeline_id, until=lambda s: "started" in ci.log(_job(s)["id"]).split("+ echo started")[-1])
    port = fake.port
    fake.down()
    ci.call(lambda t: services.cancel_pipeline(t, pipeline_id) and None)
    poll(ci)  # the controller does not answer: the stop waits
    build = fake.build_of(fake.generated()[0].name)
    assert build.building and not build_row(ci, _job(ci.pipeline(pipeline_id))["id"]).done
    fake.start(port=port)
    poll(ci)
    deadline = time.monotonic() + 10
    while build.building and time.monotonic() < deadline:
        time.sleep(0.1)
    assert build.result == "ABORTED"
    assert build_row(ci, _job(ci.pipeline(pipeline_id))["id"]).done


def test_a_generated_job_edited_on_the_controller_is_put_back(ci, fake, allow_loopback):
    register(ci, fake)
    repo = ci.repo(
        _file("jobs:\n  j:\n    runner: jenkins\n    jenkins: {checkout: false}\n    script: [echo ours]\n")
    )
    drive(ci, ci.run(repo))
    item = fake.generated()[0]
    item.config = item.config.replace("echo ours", "echo theirs")  # someone edited it in Jenkins
    job = _job(drive(ci, ci.run(repo)))
    assert "ours" in ci.log(job["id"]).split("+ echo")[-1]
    assert any(r["method"] == "POST" and r["path"] == f"/job/{item.name}/config.xml" for r in fake.requests)
    assert [r["path"] for r in fake.requests if r["path"] == "/createItem"] == ["/createItem"]


def test_when_nobody_polled_for_too_long_the_retry_stops_the_first_build(
    ci, fake, allow_loopback, monkeypatch
):

    monkeypatch.setitem(ci.app.config, "CICD_RUNNER_LOST_SECONDS", 1)
    register(ci, fake)
    # The first build would run on long after the retry; the second ends at once.
    repo = ci.repo(
        _file(
            "jobs:\n  j:\n    runner: jenkins\n    jenkins: {checkout: false}\n"
            "    script: [echo attempt $TAIJI_JOB_ATTEMPT, 'test $TAIJI_JOB_ATTEMPT = 2 || sleep 30']\n"
        )
    )
    pipeline_id = ci.run(repo)
    drive(ci, pipeline_id, until=lambda s: _job(s)["status"] == "running")


    # The scheduler (and with it the poll) is down: once that lasted longer than the lost-runner
    # delay, the reaper hands the job to a second attempt.
    assert wait_for(ci.reap, what="the reaper to take the job")
    state = drive(ci, pipeline_id, timeout=40)
    assert _job(state)["status"] == "success" and _job(state)["attempt"] == 2
    builds = fake.generated()[0].builds
    wait_for(lambda: not builds[0].building, what="the first build to end")
    assert [(b.number, b.result) for b in builds] == [(1, "ABORTED"), (2, "SUCCESS")]
    assert builds[1].parameters["TAIJI_JOB_ATTEMPT"] == "2"


def test_a_hanging_controller_costs_a_poll_one_timeout_not_one_per_build(ci, allow_loopback, monkeypatch):
    from taiji.modules.cicd.jenkins import client

    monkeypatch.setattr(client, "TIMEOUT", 0.5)
    with FakeJenkins(users={"taiji": TOKEN}) as slow, FakeJenkins(users={"taiji": TOKEN}) as quick:
        register(ci, slow, name="slow")
        register(ci, quick, name="quick")
        body = "jobs:\n" + "".join(
            f"  s{i}:\n    jenkins: {{controller: slow, checkout: false}}\n    script: [sleep 30]\n"
            for i in range(3)
        )
        body += "  q:\n    jenkins: {controller: quick, checkout: false}\n"
        body += f"    script: ['{WAIT_FOR_RELEASE}', echo quick-done]\n"
        pipeline_id = ci.run(ci.repo(_file(body)))
        names = ("s0", "s1", "s2", "q")
        drive(ci, pipeline_id, until=lambda s: all(s["jobs"][n]["status"] == "running" for n in names))
        slow.hang = 5
        asked = len(slow.requests)
        poll(ci)
        # Three builds on the hanging controller: it was asked once this round, and the round went
        # on to the other controller's build after one timeout.
        assert len(slow.requests) - asked == 1, slow.requests[asked:]
        release(quick, quick.build_of(quick.generated()[0].name))
        state = drive(ci, pipeline_id, until=lambda s: s["jobs"]["q"]["status"] == "success", timeout=30)
        assert "quick-done" in ci.log(state["jobs"]["q"]["id"])
        for name in ("s0", "s1", "s2"):
            assert state["jobs"][name]["status"] == "running"  # still followed, not failed yet
        slow.hang = 0
