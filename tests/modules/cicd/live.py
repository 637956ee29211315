"""Real `taiji worker` and `taiji runner` processes for the live CI tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def die_with_the_test_process() -> None:
    """``preexec_fn`` of a worker the tests start in a session of its own: the kernel kills it when
    the test process ends (PR_SET_PDEATHSIG), so that a killed test run leaves no `taiji worker`
    taking the next run's tasks off the same broker database (which failed that run's live tests)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG (Linux)


class Worker:
    """What runs pipelines in production: a `taiji worker` (events and every other platform task)
    and a `taiji runner` (the jobs), each a process of its own, as `taiji up` starts them.
    ``roles`` starts only some of them."""

    def __init__(self, env: dict, log_path: Path, roles=("worker", "runner"), concurrency: int | None = None):
        self.env, self.log_path, self.roles, self.concurrency = env, log_path, roles, concurrency
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self):
        for role in self.roles:
            args = [sys.executable, "-m", "taiji.cli", role]
            if self.concurrency:
                args += ["--concurrency", str(self.concurrency)]
            with self.log_path.with_name(f"{self.log_path.stem}-{role}.log").open("ab") as log:
                self.procs[role] = subprocess.Popen(
                    args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=die_with_the_test_process,
                )
        return self

    @property
    def proc(self) -> subprocess.Popen:
        return self.procs.get("runner") or self.procs["worker"]

    def kill(self, sig=signal.SIGKILL):
        """Stop every process of the pair (its whole process group); SIGKILL after 30 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a warm shutdown waits for running jobs
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def die(self, role: str = "runner") -> None:
        """The process itself dies at once, as when the kernel's OOM killer picks it: SIGKILL to it
        alone, nothing else of its group or session is told."""
        proc = self.procs[role]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)

    def tail(self) -> str:
        out = []
        for role in self.roles:
            path = self.log_path.with_name(f"{self.log_path.stem}-{role}.log")
            if path.exists():
                out.append(f"--- {role} ---\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)


def live_env(database_url: str, broker_url: str, data_dir: Path, **settings: str) -> dict:
    """The environment of a live install's processes: this machine's, without any TAIJI_ setting of
    the test run, plus the install's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env.update(
        {
            "TAIJI_DATABASE_URL": database_url,
            "TAIJI_BROKER_URL": broker_url,
            "TAIJI_DATA_DIR": str(data_dir),
            "TAIJI_SECRET_KEY": "test-secret-key",
            "PYTHONPATH": str(ROOT),
            "TAIJI_CICD_HEARTBEAT_SECONDS": "1",
            "TAIJI_CICD_KILL_GRACE_SECONDS": "1",
            "TAIJI_CICD_RUNNER_LOST_SECONDS": "4",
        }
    )
    env.update(settings)
    return env
