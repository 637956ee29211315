"""Another account on the machine reads nothing of an install (issue 12, finding 17): a fresh data
folder is 0700, the secret key and the SQLite database (with its -wal and -shm files) 0600; an
older install with open modes is tightened at start, saying so in the log. The reading is tried
for real, as the unprivileged account ``nobody``, while Taiji runs."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.live

SETPRIV = Path("/usr/bin/setpriv")
NOBODY = 65534

# Starts Taiji on a fresh SQLite install, writes a password hash, and keeps the database open
# (so that its -wal and -shm files exist) until told to stop.
RUN = """
import sys
from flask_migrate import upgrade
from taiji.platform.app import create_app
from taiji.platform.db import db
app = create_app({"TESTING": True})
with app.app_context():
    upgrade(directory=sys.argv[1])
    from taiji.modules.iam import services as iam
    iam.create_user("victim@modes.example", "Victim", "a-long-password-1")
    db.session.commit()
    connection = db.engine.connect()
    print("ready", flush=True)
    sys.stdin.readline()
    connection.close()
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _as_nobody(*command: str) -> subprocess.CompletedProcess:
    drop = [str(SETPRIV), f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run([*drop, *command], capture_output=True, text=True, timeout=30)


@pytest.fixture
def shared_folder():
    """A folder every account may enter, as /srv or a home directory often is."""
    base = Path(tempfile.mkdtemp(prefix="taiji-modes-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _start(data_dir: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAIJI_")}
    env.update(TAIJI_DATA_DIR=str(data_dir), TAIJI_BROKER_URL="filesystem://",
               PROMETHEUS_MULTIPROC_DIR=str(data_dir.parent / "metrics"))
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(ROOT / "taiji" / "migrations")], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.umask(0o022))
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()
    return proc


def _stop(proc) -> str:
    proc.stdin.write("\n")
    proc.stdin.flush()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


@pytest.mark.skipif(os.geteuid() != 0 or not SETPRIV.exists(), reason="needs root to act as another account")
def test_a_fresh_install_is_private_to_its_account(shared_folder):
    data = shared_folder / "instance"
    proc = _start(data)
    try:
        database = data / "taiji.db"
        # The attack: another account copies the password hashes and the key to the sealed secrets.
        for target in (database, Path(f"{database}-wal"), data / "secret_key"):
            attempt = _as_nobody("cat", str(target))
            assert attempt.returncode != 0 and "Permission denied" in attempt.stderr, f"nobody read {target}"
        assert _as_nobody("ls", str(data)).returncode != 0
        assert _mode(data) == 0o700
        for path in (data / "secret_key", database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            assert path.exists() and _mode(path) == 0o600, path
        assert _mode(data / "broker") == 0o700
    finally:
        _stop(proc)


@pytest.mark.skipif(os.geteuid() != 0 or not SETPRIV.exists(), reason="needs root to act as another account")
def test_an_older_open_install_is_tightened_at_start_with_a_log_line(shared_folder):
    data = shared_folder / "instance"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    database = data / "taiji.db"
    database.touch()
    database.chmod(0o644)
    (data / "secret_key").write_text("an-old-key")
    (data / "secret_key").chmod(0o644)
    assert _as_nobody("cat", str(data / "secret_key")).stdout == "an-old-key"  # the hole, before
    proc = _start(data)
    try:
        assert _mode(data) == 0o700 and _mode(database) == 0o600 and _mode(data / "secret_key") == 0o600
        assert _as_nobody("cat", str(data / "secret_key")).returncode != 0
    finally:
        err = _stop(proc)
    made_private = [json.loads(line) for line in err.splitlines()
                    if line.startswith("{") and "made private" in line]
    assert {entry["path"] for entry in made_private} >= {str(data), str(database), str(data / "secret_key")}
    assert all(entry["was"] == "0o755" or entry["was"] == "0o644" for entry in made_private)
