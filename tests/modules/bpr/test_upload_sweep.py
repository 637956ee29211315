"""What an upload cut off by a dying server leaves behind is swept (issue 12, finding 18): a real
server process, a real streamed PUT, the process killed (SIGKILL, as the out-of-memory killer or a
restart past its grace period would) while the body streams. Its ``.upload-*`` file outlives it;
the hourly ``bpr.sweep_uploads`` removes it once it is stale, and leaves a live upload alone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, app_overrides, sibling_database

pytestmark = pytest.mark.live

SERVE = """
import json, sys
from flask_migrate import upgrade
from werkzeug.serving import make_server
from taiji.platform.app import create_app
from taiji.platform.db import db
app = create_app(json.loads(sys.argv[1]))
with app.app_context():
    upgrade(directory=sys.argv[2])
    from taiji.modules.bpr import services as bpr
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.tenancy import tenant_by_slug
    user = iam.get_user_by_email("owner@sweep.example")
    if user is None:  # the first server of the installation
        user = iam.create_user("owner@sweep.example", "Owner", "a-long-password-1")
        tm.create_tenant("sweep", "Sweep", owner_id=user.id)
        bpr.create_repository(tenant_by_slug("sweep"), {"name": "files", "kind": "generic"})
    tenant = tenant_by_slug("sweep")
    repository = bpr.get_repository(tenant, "files")
    _, token = iam.create_token(user, "sweep")
    db.session.commit()
    folder = f"{tenant.id}/{repository.id}"
    db.session.remove()
server = make_server("127.0.0.1", 0, app, threaded=True)
print(json.dumps({"port": server.server_port, "token": token, "folder": folder}), flush=True)
server.serve_forever()
"""


@pytest.fixture
def installation(tmp_path):
    overrides = app_overrides(sibling_database("sweep", tmp_path, migrated=True), tmp_path / "data")
    return overrides


def _serve(overrides) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-c", SERVE, json.dumps(overrides),
                             str(ROOT / "taiji" / "migrations")], stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


def _start_upload(port: int, token: str, name: str) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall((f"PUT /bpr/sweep/files/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n").encode())
    conn.sendall(b"x" * (3 * 1024 * 1024))
    return conn


def _wait_for(folder: Path, count: int) -> list[Path]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = sorted(folder.glob(".upload-*")) if folder.exists() else []
        if len(found) >= count and all(p.stat().st_size > 0 for p in found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"no upload under way in {folder}")


def test_a_killed_server_leaves_a_temp_file_the_sweep_removes_once_stale(app, installation):
    from taiji.modules.bpr import tasks
    from taiji.platform import tasks as platform_tasks
    from taiji.platform.app import create_app
    from taiji.platform.db import db

    proc, info = _serve(installation)
    folder = Path(installation["DATA_DIR"]) / "bpr" / info["folder"]
    upload = _start_upload(info["port"], info["token"], "cut-off.bin")
    try:
        [cut_off] = _wait_for(folder, 1)
        proc.send_signal(signal.SIGKILL)  # the server dies with the body half received
        proc.wait(timeout=30)
    finally:
        upload.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert cut_off.exists()  # nobody is left to remove it

    # A second server takes over; one of its uploads is streaming right now.
    proc, info = _serve(installation)
    live_upload = _start_upload(info["port"], info["token"], "streaming.bin")
    sweeper = create_app(installation)
    try:
        streaming = [p for p in _wait_for(folder, 2) if p != cut_off]
        assert sweeper.extensions["taiji"].periodic["bpr-sweep-uploads"]["task"] == "bpr.sweep_uploads"
        with sweeper.app_context():
            assert tasks.sweep_uploads.run() == 0  # within the hour it could be a slow upload
            an_hour_ago = time.time() - 3700
            os.utime(cut_off, (an_hour_ago, an_hour_ago))
            assert tasks.sweep_uploads.run() == 1
            db.session.remove()
        assert not cut_off.exists() and all(p.exists() for p in streaming)
    finally:
        live_upload.close()
        proc.kill()
        proc.wait(timeout=30)
        with sweeper.app_context():
            db.engine.dispose()
        platform_tasks.init_celery(app)  # the session's application sends the tasks again
