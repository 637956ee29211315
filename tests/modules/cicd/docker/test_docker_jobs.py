"""Jobs in containers on a real engine: the image, the user, the workspace, the log, the limits."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.live


def test_a_job_runs_in_the_default_image_as_a_non_root_user_in_workspace(dci, docker_client):
    repo = dci.repo({".taiji.yml": """
jobs:
  build:
    script:
      - id -u; pwd; cat hello.txt
      - python --version; python -m pytest --version
      - mkdir -p out && echo made > out/result.txt
    artifacts: {paths: [out/]}
""", "hello.txt": "hello from the checkout\n"})
    state = dci.drive(dci.run(repo), timeout=120)
    job = state["jobs"]["build"]
    log = dci.log(job["id"])
    assert state["status"] == "success", log
    assert "1000\n/workspace\nhello from the checkout" in log
    assert "pytest" in log
    assert [a[0] for a in job["artifacts"]] == ["out/result.txt"]
    row = dci.job_row(job["id"])
    assert row["image"] == "taiji/python:bookworm" and row["image_digest"].startswith("sha256:")
    # Nothing of the job is left on the engine.
    assert docker_client.containers.list(all=True, filters={"label": f"org.taiji.cicd.job={job['id']}"}) == []
    assert docker_client.networks.list(filters={"label": f"org.taiji.cicd.job={job['id']}"}) == []
