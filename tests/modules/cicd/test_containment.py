"""What a job can do to the platform's disk and repositories: its disk is limited, and its checkout
shares nothing with the repository it came from."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.live


def _hosted_dir(ci, name: str) -> Path:
    from taiji.modules.vcs import services as vcs
    from taiji.platform.db import db

    with ci.ctx():
        path = vcs.local_git_dir(vcs.find_repository(ci.tenant(), name))
        db.session.remove()
    return path


@pytest.mark.parametrize("disk_mb", [0, 64], ids=["plain-folder", "limited-disk"])
def test_a_job_writing_into_its_checkouts_objects_leaves_the_hosted_repository_intact(ci, tmp_path, disk_mb):
    # Without a disk limit the job's folder is on the data volume beside the repositories: where a
    # local clone would hard-link the repository's object files into the checkout.
    ci.app.config["CICD_DISK_MB"] = disk_mb
    try:
        repo = ci.repo(
            {
                ".taiji.yml": """
jobs:
  vandal:
    script:
      - chmod -R u+w .git/objects
      - find .git/objects -type f -exec sh -c 'printf garbage > "$1"' _ {} \\;
      - git fsck 2>&1 | head -3; echo the checkout is wrecked
""",
                "README": "the repository's own content\n",
            }
        )
        state = ci.drive(ci.run(repo))
    finally:
        ci.app.config["CICD_DISK_MB"] = 2048
    job = state["jobs"]["vandal"]
    assert job["status"] == "success", ci.log(job["id"])
    assert "the checkout is wrecked" in ci.log(job["id"])
    hosted = _hosted_dir(ci, repo)
    fsck = subprocess.run(["git", "--git-dir", str(hosted), "fsck", "--full"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-local", str(hosted), str(clone)], check=True)
    assert (clone / "README").read_text() == "the repository's own content\n"


def _get(app, path: str) -> int:
    with app.test_client() as client:
        return client.get(path).status_code


def test_a_job_filling_its_disk_fails_with_disk_limit_and_nothing_else_breaks(ci):
    data_dir = Path(ci.app.config["DATA_DIR"])
    ci.app.config["CICD_DISK_MB"] = 48
    free_before = shutil.disk_usage(data_dir).free
    lowest = [free_before]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            lowest[0] = min(lowest[0], shutil.disk_usage(data_dir).free)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        repo = ci.repo(
            {
                ".taiji.yml": """
jobs:
  hog:
    script:
      - head -c 1000000000 /dev/zero > fill.bin
      - echo still here
  neighbour:
    script:
      - sleep 1
      - head -c 3000000 /dev/urandom > out.bin && echo neighbour fine
    artifacts: {paths: [out.bin]}
""",
            }
        )
        state = ci.drive(ci.run(repo), timeout=120)
        # While the hog was at its limit, the platform kept answering.
        assert _get(ci.app, "/api/v1/openapi.json") == 200
    finally:
        stop.set()
        watcher.join()
        ci.app.config["CICD_DISK_MB"] = 2048
    hog, neighbour = state["jobs"]["hog"], state["jobs"]["neighbour"]
    text = ci.log(hog["id"])
    assert (hog["status"], hog["reason"]) == ("failed", "disk_limit"), text
    assert "used all the disk a job may use (48 MiB)" in text
    assert "still here" not in text.replace("$ echo", "")
    assert neighbour["status"] == "success", ci.log(neighbour["id"])
    assert [a[:2] for a in neighbour["artifacts"]] == [("out.bin", 3_000_000)]
    # The volume of the data folder lost at most the job's limit (and other tests' noise), never the gigabyte.
    assert free_before - lowest[0] < 200 * 1024 * 1024
    # Nothing of the jobs' folders is left.
    assert not any((data_dir / "cicd" / "workspaces").iterdir())
    # The next job of the tenant runs as usual.
    after = ci.drive(ci.run(ci.repo({".taiji.yml": "jobs:\n  next:\n    script: [echo next one]\n"})))
    assert after["status"] == "success"
