"""Following one line (runners/process.py): whatever stops the follower, the line stops with it."""

from __future__ import annotations

import subprocess
import time

import pytest

from taiji.modules.cicd.runners.executor import PopenLine
from taiji.modules.cicd.runners.process import LineLimits, run_line


class _Writer:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def tick(self) -> None:
        pass


def test_a_follower_that_fails_does_not_leave_the_line_running(tmp_path):
    """The heartbeat raising (the database gone in a way nobody foresaw) ends the follower with
    the error; the line and what it started in the background are killed first."""
    marker = tmp_path / "alive"
    proc = subprocess.Popen(
        ["/bin/sh", "-c", f'(while true; do echo x >> "{marker}"; sleep 0.05; done) & sleep 300'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    line = PopenLine(proc)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    def beat():
        raise RuntimeError("the database went away")

    limits = LineLimits(deadline=time.monotonic() + 60, output_bytes=1 << 20, grace=0.5, heartbeat=0.2)
    try:
        with pytest.raises(RuntimeError):
            run_line(line, writer=_Writer(), limits=limits, beat=beat, written=[0])
        assert proc.wait(timeout=5) is not None
        size = marker.stat().st_size
        time.sleep(0.5)
        assert marker.stat().st_size == size, "the background loop outlived its follower"
    finally:
        line.finish()
