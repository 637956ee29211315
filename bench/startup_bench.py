"""Start-up cost of the `taiji` processes the live tests start by the hundred.

    python -m bench.startup_bench [--runs N] [--checkout OTHER_CHECKOUT ...]

For each checkout given (default: this one; pass another one, e.g. `git worktree add /tmp/base main`,
to compare side by side in one run, alternating), it runs its ``taiji`` with this interpreter and
measures, N times each, and prints the median:

* ``taiji --help``: wall and CPU (user + system) seconds;
* ``taiji web --no-bootstrap`` (1 worker) until the first ``/healthz`` 200: wall, and the CPU of the
  whole process group at that moment (master and worker);
* ``taiji runner`` until Celery says ready: wall and CPU.

It needs a database it can migrate (TAIJI_BENCH_DATABASE_URL, default a SQLite file in a temporary
folder) and a broker (TAIJI_BENCH_BROKER_URL, default Redis database 15 on this machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def _group_cpu(pgid: int) -> float:
    """User + system CPU seconds of every live process of the group ``pgid``."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state: pgrp is the 5th field of stat
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(database: str, broker: str, data_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_", "PYTHON"))}
    env.update({"TAIJI_DATABASE_URL": database, "TAIJI_BROKER_URL": broker, "TAIJI_DATA_DIR": str(data_dir),
                "TAIJI_SECRET_KEY": "bench-secret-key", "TAIJI_WEB_WORKERS": "1", **extra})
    return env


def _at(root: Path, env: dict) -> dict:
    """The environment of a process running the ``taiji`` of the checkout ``root``."""
    return {**env, "PYTHONPATH": str(root)}


def help_run(root: Path, env: dict) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "taiji.cli", "--help"], env=_at(root, env), cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _until(proc: subprocess.Popen, ready, timeout: float = 180) -> tuple[float, float]:
    start = time.monotonic()
    try:
        while not ready():
            if proc.poll() is not None:
                raise SystemExit(f"the process exited with {proc.returncode}")
            if time.monotonic() - start > timeout:
                raise SystemExit("the process did not become ready")
            time.sleep(0.02)
        return time.monotonic() - start, _group_cpu(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def web_run(root: Path, env: dict) -> tuple[float, float]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "taiji.cli", "web", "--no-bootstrap"], cwd=root,
                            env=_at(root, {**env, "TAIJI_PORT": str(port)}), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)

    def ready():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    return _until(proc, ready)


def runner_run(root: Path, env: dict, log: Path) -> tuple[float, float]:
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "taiji.cli", "runner", "--concurrency", "2"], cwd=root,
                                env=_at(root, env),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return _until(proc, lambda: " ready." in log.read_text(errors="replace"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--checkout", action="append", type=Path, help="checkout to measure (repeatable)")
    args = parser.parse_args()
    roots = [path.resolve() for path in args.checkout or [ROOT]]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database = os.environ.get("TAIJI_BENCH_DATABASE_URL") or f"sqlite:///{folder / 'bench.db'}"
        broker = os.environ.get("TAIJI_BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")
        env = _env(database, broker, folder / "data")
        subprocess.run([sys.executable, "-m", "taiji.cli", "db", "upgrade"], env=_at(roots[0], env),
                       cwd=roots[0], check=True, stdout=subprocess.DEVNULL)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.runs):
            for root in roots:  # alternating: a noisy machine weighs on every interpreter alike
                results.setdefault((root, "taiji --help"), []).append(help_run(root, env))
                results.setdefault((root, "taiji web → /healthz 200"), []).append(web_run(root, env))
                results.setdefault((root, "taiji runner → ready"), []).append(
                    runner_run(root, env, folder / "runner.log"))
        for root in roots:
            print(root)
            for (where, what), runs in results.items():
                if where == root:
                    wall = statistics.median(run[0] for run in runs)
                    cpu = statistics.median(run[1] for run in runs)
                    print(f"  {what:28} wall {wall:6.2f} s   CPU {cpu:6.2f} s   (median of {len(runs)})")


if __name__ == "__main__":
    main()
