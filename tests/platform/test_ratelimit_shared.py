"""Rate limits hold across web processes when there is no Redis (issue 12, finding 14).

Two separate processes serve the same install (same data folder, same database), as two
gunicorn workers do. Requests alternate between them from one address; the sign-in limit must
count them together. With Flask-Limiter's in-memory storage each process counted alone, and
an attacker got the limit once per worker.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, sibling_database

pytestmark = pytest.mark.live

SERVE = """
import sys
from werkzeug.serving import make_server
from taiji.platform.app import create_app

overrides = {"SQLALCHEMY_DATABASE_URI": sys.argv[1], "DATA_DIR": sys.argv[2], "SECRET_KEY": "shared-limits",
             "WTF_CSRF_ENABLED": False, "LOGIN_RATE_LIMIT": "3 per minute"}
if sys.argv[3] != "default":
    overrides["RATELIMIT_STORAGE_URI"] = sys.argv[3]
app = create_app(overrides)
server = make_server("127.0.0.1", 0, app, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIJI_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _run(database: str, data_dir, storage: str, *args: str) -> list[str]:
    return [sys.executable, "-c", SERVE, database, str(data_dir), storage, *args]


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shared-limits")
    return sibling_database("limits", tmp, migrated=True), tmp  # a copy of the migrated template


def _serve_two(database, data_dir, storage):
    # Both start at once (each loads the application for a few seconds), then say their ports.
    processes = [subprocess.Popen(_run(database, data_dir, storage, "serve"), stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=_env(), cwd=ROOT, text=True)
                 for _ in range(2)]
    return processes, [int(process.stdout.readline()) for process in processes]


def _statuses(ports, rounds: int = 2) -> list[int]:
    statuses = []
    for _ in range(rounds):
        for port in ports:
            # An empty form: the page answers 200 with field errors, unless the limit answers 429.
            statuses.append(requests.post(f"http://127.0.0.1:{port}/login", data={}, timeout=30).status_code)
    return statuses


@pytest.mark.parametrize("storage, expected", [
    ("default", [200, 200, 200, 429]),
    # What Flask-Limiter did on its own: each process counts alone, nobody is ever throttled.
    ("memory://", [200, 200, 200, 200]),
])
def test_two_processes_count_sign_in_attempts_together(install, storage, expected):
    database, tmp = install
    data_dir = tmp / f"data-{storage.strip(':/')}"
    processes, ports = _serve_two(database, data_dir, storage)
    try:
        assert _statuses(ports) == expected
        if storage == "default":
            assert (data_dir / "ratelimits.db").exists()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
            process.stdout.close()
