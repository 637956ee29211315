"""Rate limits (Flask-Limiter), counted where every web process of the install sees them.

With ``TAIJI_REDIS_URL`` the counters live in Redis: that is what production should use, and the
only choice when the web processes run on several machines. Without it they live in a SQLite
file in the data folder (``taiji-sqlite://``, below), which every gunicorn worker of one machine
shares. Flask-Limiter's own ``memory://`` would give each worker its own counters, so an
attacker would get the limit once per worker.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import Storage


class _Limiter(Limiter):
    """Flask-Limiter with ``Retry-After`` only where HTTP gives it a meaning.

    With RATELIMIT_HEADERS_ENABLED it puts ``Retry-After`` on every answer of a limited route, a
    200 included; clients that honour the header (RFC 9110 §10.2.3) would then wait after each
    success. The X-RateLimit-* headers stay on every answer.
    """

    def init_app(self, app, *args, **kwargs):
        # Registered first, so Flask runs it after the hook init_app adds (they run in reverse).
        app.after_request(_retry_after_only_when_throttled)
        super().init_app(app, *args, **kwargs)


def _retry_after_only_when_throttled(response):
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


limiter = _Limiter(key_func=get_remote_address, default_limits=[])


def by_address() -> str:
    return f"addr:{get_remote_address()}"


def by_oauth_client() -> str:
    """The client an OAuth endpoint call names (HTTP Basic or the form), authenticated or not."""
    auth = request.authorization
    client_id = auth.username if auth is not None and auth.username else None
    client_id = client_id or request.form.get("client_id")
    return "client:" + (client_id or "-")[:100]


def hit(limit: str, *key: str) -> bool:
    """Count one use of ``limit`` ("10 per minute") under ``key``; False once it is exceeded.

    For limits that are not per route (a bind to a directory, a mail sent), on the same storage
    as the routes' limits.
    """
    return limiter.limiter.hit(parse(limit), *key)


class SQLiteStorage(Storage):
    """Fixed-window counters in a SQLite file, shared by the processes of one machine.

    One upsert per hit, in SQLite's autocommit mode: two processes counting the same key at
    once are serialised by SQLite's lock and both increments land. A file of its own, not the
    application's database, so a count never waits for (or on) a request's open transaction.
    """

    STORAGE_SCHEME = ["taiji-sqlite"]
    _PURGE_EVERY = 1000

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = Path((uri or "").split("://", 1)[1])
        self._local = threading.local()
        self._hits = 0

    @property
    def base_exceptions(self):
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        # One connection per thread and per process (a forked gunicorn worker opens its own).
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS counter "
                         "(key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        db = self._db()
        (count,) = db.execute(
            "INSERT INTO counter (key, count, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "count = CASE WHEN expires <= ? THEN excluded.count ELSE count + excluded.count END, "
            "expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END "
            "RETURNING count",
            (key, amount, now + expiry, now, now),
        ).fetchone()
        self._hits += 1
        if self._hits % self._PURGE_EVERY == 0:
            db.execute("DELETE FROM counter WHERE expires <= ?", (now,))
        return count

    def get(self, key: str) -> int:
        row = self._db().execute("SELECT count FROM counter WHERE key = ? AND expires > ?",
                                 (key, time.time())).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._db().execute("SELECT expires FROM counter WHERE key = ?", (key,)).fetchone()
        return row[0] if row else time.time()

    def check(self) -> bool:
        self._db().execute("SELECT 1").fetchone()
        return True

    def reset(self) -> int | None:
        return self._db().execute("DELETE FROM counter").rowcount

    def clear(self, key: str) -> None:
        self._db().execute("DELETE FROM counter WHERE key = ?", (key,))
