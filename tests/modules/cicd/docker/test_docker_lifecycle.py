"""A job's container ends with the job: cancel, timeout, a killed worker; and its limits hold."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.live


def _containers(client, job_id: int, attempt: int | None = None) -> list:
    labels = [f"org.taiji.cicd.job={job_id}"]
    if attempt is not None:
        labels.append(f"org.taiji.cicd.attempt={attempt}")
    # sparse: from the list alone. Without it docker-py inspects each listed container, and one
    # removed in between (what the tests wait for) raised NotFound instead of being gone.
    return client.containers.list(all=True, sparse=True, filters={"label": labels})


def _wait(predicate, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_cancel_stops_the_container_with_every_process_in_it(dci, docker_client):
    from taiji.modules.cicd import services

    repo = dci.repo({".taiji.yml": """
jobs:
  long:
    script:
      - setsid sh -c 'sleep 400' & nohup sleep 500 >/dev/null 2>&1 & echo started
      - sleep 300
"""})
    pipeline_id = dci.run(repo)
    state = dci.drive(pipeline_id, timeout=60, until=lambda s: "started" in dci.log(s["jobs"]["long"]["id"]))
    job_id = state["jobs"]["long"]["id"]
    assert [c.status for c in _containers(docker_client, job_id)] == ["running"]
    dci.call(services.cancel_pipeline, pipeline_id)
    _wait(lambda: not _containers(docker_client, job_id), timeout=20, what="the job's container to go")
    dci.join()
    state = dci.pipeline(pipeline_id)
    job = state["jobs"]["long"]
    assert (state["status"], job["status"], job["reason"]) == ("canceled", "canceled", "canceled")
    assert docker_client.networks.list(filters={"label": f"org.taiji.cicd.job={job_id}"}) == []


def test_a_job_over_its_timeout_is_stopped_and_its_container_removed(dci, docker_client):
    repo = dci.repo({".taiji.yml": "jobs:\n  slow:\n    timeout: 3s\n    script: [echo go, sleep 120]\n"})
    began = time.monotonic()
    state = dci.drive(dci.run(repo), timeout=60)
    assert time.monotonic() - began < 30
    job = state["jobs"]["slow"]
    assert (state["status"], job["status"], job["reason"]) == ("failed", "failed", "timeout")
    assert "longer than its timeout" in dci.log(job["id"])
    _wait(lambda: not _containers(docker_client, job["id"]), timeout=10, what="the container to go")


def test_the_retry_of_a_killed_workers_job_first_removes_the_container_it_left(dci, docker_client, tmp_path):
    from taiji.modules.cicd.runners import builtin
    from taiji.platform.db import db, utcnow

    repo = dci.repo({".taiji.yml": """
jobs:
  deploy:
    script:
      - if [ "$TAIJI_JOB_ATTEMPT" = 1 ]; then echo first attempt deploying; sleep 300; fi
      - echo attempt $TAIJI_JOB_ATTEMPT done
"""})
    pipeline_id = dci.run(repo)
    job_id = dci.pipeline(pipeline_id)["jobs"]["deploy"]["id"]
    worker = dci.execute_in_process(job_id, 1, tmp_path / "worker.log")
    try:
        _wait(lambda: "first attempt deploying" in dci.log(job_id), timeout=90,
              what=f"attempt 1 to run: {(tmp_path / 'worker.log').read_text()[-2000:]}")
        [left] = _containers(docker_client, job_id, attempt=1)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=20)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    left.reload()
    assert left.status == "running"  # the worker is gone, what it started is not
    with dci.ctx():
        assert builtin.reap(now=utcnow() + dt.timedelta(seconds=30)) == [job_id]
        db.session.commit()
        db.session.remove()
    state = dci.drive(pipeline_id, timeout=90)
    job = state["jobs"]["deploy"]
    log = dci.log(job_id)
    assert (state["status"], job["attempt"]) == ("success", 2), log
    assert "attempt 2 done" in log
    # Attempt 1's container went before attempt 2 ran: never two deploys at once.
    assert _containers(docker_client, job_id) == []
    assert log.index("Removed 1 container(s) left by an earlier attempt") < log.rindex("$ if [")
    # What the next worker start on this host does: the dead attempt's folder goes too.
    from taiji.modules.cicd.runners.sweep import sweep_workspaces

    with dci.ctx():
        sweep_workspaces()
        db.session.remove()
    assert not (Path(dci.app.config["DATA_DIR"]) / "cicd" / "workspaces" / f"{job_id}-1").exists()


@pytest.fixture
def limits(docker_app):
    keys = ("CICD_MEMORY_MB", "CICD_PIDS", "CICD_CPUS", "CICD_DISK_MB")
    saved = {key: docker_app.config[key] for key in keys}
    yield docker_app.config
    docker_app.config.update(saved)


def test_memory_processes_and_cpus_are_limited(dci, limits):
    limits.update({"CICD_MEMORY_MB": 96, "CICD_PIDS": 64, "CICD_CPUS": 0.5})
    repo = dci.repo({".taiji.yml": """
jobs:
  threads:
    allow_failure: true
    script:
      - cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us || true
      - >-
        python -c "import threading, time;
        started = [threading.Thread(target=time.sleep, args=(20,), daemon=True) for _ in range(200)];
        [t.start() or print('thread', i + 1, flush=True) for i, t in enumerate(started)]"
  memory:
    allow_failure: true
    script:
      - python -c "blob = bytearray(400 * 1024 * 1024); print('allocated', len(blob))"
"""})
    state = dci.drive(dci.run(repo), timeout=120)
    threads, memory = state["jobs"]["threads"], state["jobs"]["memory"]
    threads_log, memory_log = dci.log(threads["id"]), dci.log(memory["id"])
    assert "50000\n100000" in threads_log, threads_log  # half a CPU: 50 ms of every 100 ms
    assert threads["reason"] == "exit_status" and "can't start new thread" in threads_log, threads_log
    assert "thread 64" not in threads_log
    assert (memory["reason"], memory["exit_code"]) == ("exit_status", 137), memory_log
    assert "allocated" not in memory_log.replace("print('allocated'", "")


def test_a_job_that_fills_its_disk_fails_with_that_reason(dci, limits, docker_client):
    limits["CICD_DISK_MB"] = 40
    repo = dci.repo({".taiji.yml": """
jobs:
  burst:
    script:
      - dd if=/dev/zero of=/tmp/burst bs=1M count=80 status=none
      - echo never here
  steady:
    script:
      - while true; do dd if=/dev/zero bs=1M count=5 status=none >> /home/taiji/steady; sleep 0.2; done
"""})
    began = time.monotonic()
    state = dci.drive(dci.run(repo), timeout=120)
    burst, steady = state["jobs"]["burst"], state["jobs"]["steady"]
    assert (burst["status"], burst["reason"]) == ("failed", "disk_limit"), dci.log(burst["id"])
    assert "never here" not in dci.log(burst["id"]).replace("$ echo never here", "")
    assert (steady["status"], steady["reason"]) == ("failed", "disk_limit"), dci.log(steady["id"])
    assert time.monotonic() - began < 60
    assert _containers(docker_client, steady["id"]) == []
