"""The install's files are the Taiji user's alone: the data folder 0700, its secrets and the SQLite
database 0600. They hold password hashes, sealed secrets, the key that opens them, repositories
and packages; on a shared machine any other account could otherwise read them.

New folders and files are created so; an install made before (0755 folders, a 0644 database) is
tightened when Taiji starts, with a log line saying what changed.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger("taiji.files")

FOLDER = 0o700
FILE = 0o600


def private_folder(path: Path) -> Path:
    """Make ``path`` (and missing parents) a folder only its owner can enter."""
    path.mkdir(mode=FOLDER, parents=True, exist_ok=True)
    return path


def _tighten(path: Path, wanted: int) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, wanted)
        except PermissionError:
            log.warning("could not make private", extra={"path": str(path), "mode": oct(mode)})
            return
        log.warning("made private: others could read it", extra={
            "path": str(path), "was": oct(mode), "now": oct(wanted)})


def sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    # A relative path is Flask-SQLAlchemy's to place (under the instance folder): not touched here.
    if url.get_backend_name() != "sqlite" or not url.database or not Path(url.database).is_absolute():
        return None
    return Path(url.database)


def secure_install(config) -> None:
    """At start: the data folder, the secret key, the broker's folder and the SQLite database
    (created empty and private if it does not exist yet, so that SQLite, which gives its -wal and
    -shm files the database's mode, never makes them readable)."""
    data_dir = Path(config["DATA_DIR"])
    private_folder(data_dir)
    _tighten(data_dir, FOLDER)
    _tighten(data_dir / "secret_key", FILE)
    _tighten(data_dir / "broker", FOLDER)
    database = sqlite_path(config["SQLALCHEMY_DATABASE_URI"])
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        # O_CREAT on an existing file changes nothing; a missing one starts as an empty database.
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, FILE))
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm"), Path(f"{database}-journal")):
            _tighten(path, FILE)
