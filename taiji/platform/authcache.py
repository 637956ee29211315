"""Who a bearer token is, and what a principal may do at a tenant, kept between requests.

Resolving them costs an API read three round trips and most of its CPU (issue 14, item 9), and the
answers change rarely. Each web process keeps them in memory, and drops them all whenever any row
of a table they are made of changes — in this process or any other, on any machine:

- the module that authenticates names those tables (``watch(...)``: tokens, users, role bindings,
  roles, groups, OAuth grants); every INSERT, UPDATE or DELETE on one of them, through the ORM,
  Core or plain SQL, marks its connection;
- every process of the machine that commits such a change replaces the file
  ``TAIJI_DATA_DIR/auth-generation`` before it answers its caller, and drops its own answers; a
  lookup compares the file's identity with the one its answer was stored under, so "revoke through
  one worker, then call another" is refused at once;
- on PostgreSQL the statement is also followed by ``NOTIFY taiji_auth``, which the database
  delivers to every listening process when (and only if) the transaction commits: the other
  machines. Each process holds one connection that LISTENs, and reads what arrived at the start of
  a cached lookup (a non-blocking read of its socket). A notification arrives milliseconds after
  the commit, not before it returns: a change made on one machine is seen on another within that.

An answer is stored under the generation read *before* the database was, so a change that commits
while it is being read makes it stale at once. If the LISTEN connection is lost, nothing is served
from memory until it is back. Answers also expire after TAIJI_AUTH_CACHE_SECONDS and when the token does;
only successful answers are kept (a wrong token costs its query every time), at most ``MAX_ENTRIES``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from taiji.platform.db import utcnow

CHANNEL = "taiji_auth"
TABLES_CHANNEL = "taiji_tables"
MAX_ENTRIES = 10_000
RECONNECT_SECONDS = 5.0

# Tables whose rows make up a principal or its access (every application of the process adds to it).
_watched: set[str] = set()
_DML = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([A-Za-z_][A-Za-z0-9_]*)', re.IGNORECASE)
_CHANGED = "taiji_auth_changed"  # connection.info: this transaction changed a watched table
_CHANGED_BEFORE = "taiji_auth_changed_before"  # ... in a savepoint that has ended
_pending = threading.local()  # engine URLs whose generation moves once the session's commit returns


# Execution option of a statement that writes a watched table without changing who anyone is or what
# they may do (a token's last use): ``session.execute(stmt, execution_options=UNCHANGED)``.
UNCHANGED = {"taiji_auth_unchanged": True}


def watch(*tables: str) -> None:
    _watched.update(tables)


def _changed_table(statement: str) -> bool:
    if not _watched or statement[:1].upper() not in ("I", "U", "D", " ", "\n"):
        return False
    match = _DML.match(statement)
    return match is not None and match.group(1).lower() in _watched


# -- the writers' side: every statement of every engine ------------------------------------------


@event.listens_for(sa.engine.Engine, "after_cursor_execute")
def _after_execute(conn, cursor, statement, parameters, context, executemany):
    if not _changed_table(statement) or (context is not None
                                         and context.execution_options.get("taiji_auth_unchanged")):
        return
    conn.info[_CHANGED] = True  # at worst left over from a transaction reset by the pool: one more bump
    if conn.dialect.name == "postgresql":
        # Transactional: delivered when this transaction commits, never if it rolls back (the
        # database sends one of several alike). Sent for every such statement, so no flag left
        # behind by an earlier transaction can ever suppress it.
        cursor.connection.execute(f"NOTIFY {CHANNEL}")
        if cursor.connection.autocommit:  # already committed
            conn.info.pop(_CHANGED, None)
            _moved(conn.engine.url)


@event.listens_for(sa.engine.Engine, "commit")
def _on_commit(conn):
    if _ended(conn):
        urls = getattr(_pending, "urls", None)
        if urls is None:
            urls = _pending.urls = set()
        urls.add(conn.engine.url.render_as_string(hide_password=False))


@event.listens_for(sa.engine.Engine, "rollback")
def _on_rollback(conn):
    # Only this transaction saw what it changed, but it may have stored answers made of it.
    if _ended(conn):
        _moved(conn.engine.url)


def _ended(conn) -> bool:
    """Did the transaction that is ending change a watched table?

    A connection lost mid-transaction (its backend terminated, its socket broken) has no state
    left to ask, and asking would raise instead of letting the rollback finish: it counts as
    changed, which costs at most the answers this process had stored."""
    if conn.invalidated:
        return True
    changed = conn.info.pop(_CHANGED, False)
    return conn.info.pop(_CHANGED_BEFORE, False) or changed


@event.listens_for(sa.engine.Engine, "release_savepoint")
@event.listens_for(sa.engine.Engine, "rollback_savepoint")
def _on_savepoint_end(conn, name, context):
    # Released: visible to this connection's later statements (the test suite serves its requests
    # inside one outer transaction). Rolled back: as above. The outer commit moves it again.
    if conn.invalidated:
        _moved(conn.engine.url)
    elif conn.info.pop(_CHANGED, False):
        conn.info[_CHANGED_BEFORE] = True
        _moved(conn.engine.url)


@event.listens_for(Session, "after_commit")
def _after_session_commit(session):
    urls = getattr(_pending, "urls", None)
    if urls:
        _pending.urls = None
        for url in urls:
            _moved(url)


def _moved(url) -> None:
    """The watched data of ``url`` changed and committed: every process must drop its answers."""
    key = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    for data_dir in list(_data_dirs.get(key, ())):
        _file_signal(data_dir).bump()
    listener = _listeners.get((os.getpid(), key))
    if listener is not None:
        listener.bump()


# -- the readers' side: one generation per process and database -----------------------------------


class _FileSignal:
    """SQLite: the identity of a file every committing process replaces."""

    def __init__(self, data_dir: str):
        self.path = Path(data_dir) / "auth-generation"
        self._local = 0

    def current(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.bump()
            try:
                st = os.stat(self.path)
            except OSError:
                return None
        return (st.st_ino, st.st_mtime_ns, st.st_size, self._local)

    def bump(self) -> None:
        self._local += 1  # this process at once, even if the file cannot be written
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".auth-generation.{os.getpid()}.{threading.get_ident()}")
            tmp.write_bytes(os.urandom(8))
            os.replace(tmp, self.path)
        except OSError:
            pass


class _ListenSignal:
    """PostgreSQL: a counter moved by every NOTIFY that reaches this process's LISTEN connection."""

    def __init__(self, url: str):
        self.url = url
        self.generation = 0
        self._conn = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def _connect(self):
        import psycopg

        dsn = sa.engine.make_url(self.url).set(drivername="postgresql")
        conn = psycopg.connect(dsn.render_as_string(hide_password=False), autocommit=True, connect_timeout=3)
        conn.execute(f"LISTEN {CHANNEL}")
        conn.execute(f"LISTEN {TABLES_CHANNEL}")  # for the read cache (taiji.platform.readcache)
        return conn

    def current(self):
        with self._lock:
            if self._conn is None:
                if time.monotonic() < self._retry_at:
                    return None
                try:
                    self._conn = self._connect()
                except Exception:  # no listener: serve nothing from memory
                    self._retry_at = time.monotonic() + RECONNECT_SECONDS
                    return None
                self.generation += 1  # what was stored before the listener (re)started is suspect
            try:
                pgconn = self._conn.pgconn
                pgconn.consume_input()
                while (notice := pgconn.notifies()) is not None:
                    if notice.relname == TABLES_CHANNEL.encode():
                        from taiji.platform import readcache

                        readcache.heard(self.url, notice.extra.decode(errors="replace"))
                    else:
                        self.generation += 1
                if pgconn.status != 0:  # CONNECTION_OK
                    raise ConnectionError("listener connection lost")
            except Exception:
                self._close()
                self._retry_at = time.monotonic() + RECONNECT_SECONDS
                return None
            return self.generation

    def bump(self) -> None:
        with self._lock:
            self.generation += 1

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken
                conn.close()
        self.generation += 1


_data_dirs: dict[str, set[str]] = {}  # database URL -> the data dirs of this process's applications on it
_files: dict[tuple[int, str], _FileSignal] = {}  # (pid, data dir)
_listeners: dict[tuple[int, str], _ListenSignal] = {}  # (pid, URL): a forked worker makes its own
_signals_lock = threading.Lock()


def register(url: str, data_dir: str) -> None:
    """An application of this process writes ``url``; the other processes of its machine share
    ``data_dir``. Its commits replace the generation file there, whether or not it caches."""
    with _signals_lock:
        _data_dirs.setdefault(url, set()).add(data_dir)


@atexit.register
def _close_listeners() -> None:
    for (pid, _url), signal in list(_listeners.items()):
        if pid == os.getpid():
            signal._close()


def _file_signal(data_dir: str) -> _FileSignal:
    key = (os.getpid(), data_dir)
    signal = _files.get(key)
    if signal is None:
        with _signals_lock:
            signal = _files.setdefault(key, _FileSignal(data_dir))
    return signal


def _listener(url: str) -> _ListenSignal:
    key = (os.getpid(), url)  # a LISTEN connection is not shared with a forked child
    signal = _listeners.get(key)
    if signal is None:
        with _signals_lock:
            signal = _listeners.setdefault(key, _ListenSignal(url))
    return signal


def _generation(url: str, data_dir: str):
    """What answers are stored under and checked against; None: serve nothing from memory.

    The file moves before a committing process on this machine answers its caller, so "revoke
    through one worker, then call another" is refused at once. PostgreSQL adds what its LISTEN
    connection heard, for the other machines (their notifications arrive within milliseconds of
    the commit, not before it returns)."""
    local = _file_signal(data_dir).current()
    if not url.startswith("postgresql"):
        return local
    heard = _listener(url).current()
    return None if heard is None or local is None else (heard, local)


def listening(url: str, data_dir: str) -> bool:
    """What other processes commit reaches this one (PostgreSQL: its LISTEN connection is up, and
    what arrived on it has been read)."""
    return _generation(url, data_dir) is not None


# -- the cache of one application ------------------------------------------------------------------


@dataclass
class _Entry:
    generation: object
    stored: float
    value: object


class AuthCache:
    def __init__(self, url: str, data_dir: str, max_age: float = 60.0):
        self.url = url
        self.data_dir = data_dir
        self.max_age = max_age  # seconds (a token's last use is recorded again after this)
        self._entries: dict = {}
        register(url, data_dir)

    def generation(self):
        """The generation to check answers against and to store new ones under; None: do not cache."""
        return _generation(self.url, self.data_dir)

    def get(self, key, generation):
        if generation is None:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != generation or time.monotonic() - entry.stored > self.max_age:
            self._entries.pop(key, None)
            return None
        expires_at = getattr(entry.value, "expires_at", None)
        if expires_at is not None and expires_at <= utcnow():
            self._entries.pop(key, None)
            return None
        return entry.value

    def put(self, key, generation, value) -> None:
        if generation is None or value is None:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = _Entry(generation, time.monotonic(), value)
