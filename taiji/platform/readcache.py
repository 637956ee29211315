"""API reads kept between requests, dropped as soon as a table they were read from changes.

An authenticated read of a list costs four to five times a trivial request (issue 14, item 9),
and clients poll the same lists (dashboards, the CLI, scripts). An endpoint whose answer is a
function of the rows it reads, the URL and the caller only opts in with ``@cached_read`` (below its
``auth.require``, so that access is checked on every request). Each web process keeps its answers
in memory; an answer is served again while none of the tables it read has changed since:

- **Which tables.** While the view runs the first time, every statement it sends is recorded and
  the tables named after FROM or JOIN are its dependencies (from the start of the request: a
  blueprint's hook may load what the view only serializes). A request that sends anything but a
  SELECT is not kept.
- **Changes, on this machine.** Every INSERT, UPDATE or DELETE of any process, through the ORM,
  Core or plain SQL, increments the table's counter in ``TAIJI_DATA_DIR/table-clock``, a small
  file every process of the install maps into memory: when the statement runs, and again once
  its transaction has committed (or its savepoint was released, as the test suite's requests
  do). A reader compares the counters of its answer's tables with the ones read before the
  request did anything, so a change that commits during the read makes the answer stale at
  once, and "write, then read" through two workers never sees the old answer.
- **Changes, on other machines** (PostgreSQL): the commit also sends ``NOTIFY taiji_tables`` with
  the tables and the writing machine; every web process listens (the auth cache's connection,
  taiji.platform.authcache) and increments its own machine's counters. Another machine's change
  is seen as soon as the notification arrives (milliseconds); without a listener nothing is
  served from memory.
- Not seen: a change made outside Taiji (psql by hand). Answers are also dropped after
  TAIJI_READ_CACHE_SECONDS, at most ``MAX_ENTRIES`` are kept, and none larger than ``MAX_BYTES``;
  together they hold at most ``MAX_TOTAL_BYTES`` (a caller varying the query string of a read
  cannot make a process keep more: past it, every answer is dropped).
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import mmap
import os
import re
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from functools import wraps
from pathlib import Path

from flask import Response, current_app, g, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

CHANNEL = "taiji_tables"
HIT_HEADER = "X-Taiji-Read-Cache"  # "hit" on an answer from memory (for operators and tests)
SLOTS = 4096  # tables hash onto slots: two tables sharing one only cost extra misses
MAX_ENTRIES = 5_000
MAX_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 32 * 1024 * 1024
_NOTIFY_MAX = 7_000  # PostgreSQL's payload limit is 8,000 bytes; beyond, "every table"
_EVERYTHING = "*"

_DML = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([A-Za-z_][A-Za-z0-9_]*)', re.IGNORECASE)
_READS = re.compile(r'\b(?:FROM|JOIN)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)
_TABLES = "taiji_tables_changed"  # connection.info: the tables this transaction wrote
_SAVED = "taiji_tables_changed_before"  # ... in savepoints that have ended
_pending = threading.local()  # (url, tables) to count once the session's commit returns


def slot_of(table: str) -> int:
    return zlib.crc32(table.encode()) % SLOTS


# -- the clock of one machine: a counter per slot, in a file every process maps ---------------------


class TableClock:
    """``TAIJI_DATA_DIR/table-clock``: 8 bytes of machine id, then SLOTS little-endian counters."""

    def __init__(self, data_dir: str):
        path = Path(data_dir) / "table-clock"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 8 * (SLOTS + 1)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.fstat(fd).st_size < size:
                    os.ftruncate(fd, size)
                    os.pwrite(fd, os.urandom(8), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            self._map = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.machine = self._map[:8].hex()

    def value(self, slot: int) -> int:
        return struct.unpack_from("<Q", self._map, 8 * (slot + 1))[0]

    def snapshot(self) -> bytes:
        return self._map[8:]

    def tick(self, tables) -> None:
        slots = range(SLOTS) if _EVERYTHING in tables else {slot_of(t) for t in tables}
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            for slot in slots:
                offset = 8 * (slot + 1)
                struct.pack_into("<Q", self._map, offset, struct.unpack_from("<Q", self._map, offset)[0] + 1)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


_clocks: dict[tuple[int, str], TableClock] = {}  # (pid, data dir): a forked process maps its own
_urls: dict[str, set[str]] = {}  # database URL -> the data dirs of this process's applications on it
_lock = threading.Lock()


def clock(data_dir: str) -> TableClock:
    key = (os.getpid(), data_dir)
    found = _clocks.get(key)
    if found is None:
        with _lock:
            found = _clocks.get(key)
            if found is None:
                found = _clocks[key] = TableClock(data_dir)
    return found


def register(url: str, data_dir: str) -> None:
    """An application of this process writes ``url`` and keeps its machine's clock in ``data_dir``."""
    with _lock:
        _urls.setdefault(url, set()).add(data_dir)


def _tick(url: str, tables) -> None:
    for data_dir in list(_urls.get(url, ())):
        with contextlib.suppress(OSError):
            clock(data_dir).tick(tables)


def heard(url: str, payload: str) -> None:
    """A ``taiji_tables`` notification about ``url`` reached this process (authcache's listener)."""
    machine, _, names = payload.partition("|")
    for data_dir in list(_urls.get(url, ())):
        try:
            tick = clock(data_dir)
            if machine != tick.machine:  # this machine's own writers counted already
                tick.tick(set(names.split(",")))
        except OSError:
            pass


# -- the writers' side: every statement of every engine ------------------------------------------


def _url(conn) -> str:
    return conn.engine.url.render_as_string(hide_password=False)


# Execution option of a bookkeeping write that no cached answer needs to see at once (a client key's
# last use, written at most once a minute): it does not tick its table, so the answers read from that
# table stay cached until they lapse (TAIJI_READ_CACHE_SECONDS).
UNCHANGED = {"taiji_read_unchanged": True}


@event.listens_for(Engine, "after_cursor_execute")
def _after_execute(conn, cursor, statement, parameters, context, executemany):
    recording = _recording.get()
    if recording is not None:
        recording.saw(statement)
    if statement[:1].upper() not in ("I", "U", "D", " ", "\n"):
        return
    if context is not None and context.execution_options.get("taiji_read_unchanged"):
        return
    match = _DML.match(statement)
    if match is None:
        return
    table = match.group(1).lower()
    # Counted at once: the rest of this transaction (a test's requests inside one) must not be
    # answered from before it; counted again when it commits, for what was read in between.
    _tick(_url(conn), {table})
    if conn.dialect.name == "postgresql" and cursor.connection.autocommit:
        _notify_now(cursor.connection, conn, {table})
        return
    conn.info.setdefault(_TABLES, set()).add(table)


def _payload(conn, tables) -> str:
    names = ",".join(sorted(tables))
    if len(names) > _NOTIFY_MAX:
        names = _EVERYTHING
    machines = {clock(d).machine for d in _urls.get(_url(conn), ())}
    return f"{next(iter(machines), '')}|{names}"


def _notify_now(dbapi_connection, conn, tables) -> None:
    if _urls.get(_url(conn)):
        dbapi_connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, _payload(conn, tables)))


@event.listens_for(Engine, "commit")
def _on_commit(conn):
    if conn.invalidated:
        return
    tables = conn.info.pop(_TABLES, set()) | conn.info.pop(_SAVED, set())
    if not tables:
        return
    if conn.dialect.name == "postgresql":
        # In the transaction: delivered when (and only if) it commits.
        _notify_now(conn.connection.dbapi_connection, conn, tables)
    # Counted now for a commit no session follows (Core), and again once the session's returns:
    # an answer read in between, from the rows before, is then stale too.
    _tick(_url(conn), tables)
    pending = getattr(_pending, "items", None)
    if pending is None:
        pending = _pending.items = []
    pending.append((_url(conn), tables))


@event.listens_for(Session, "after_commit")
def _after_session_commit(session):
    items = getattr(_pending, "items", None)
    if items:
        _pending.items = None
        for url, tables in items:
            _tick(url, tables)


@event.listens_for(Engine, "rollback")
def _on_rollback(conn):
    if conn.invalidated:
        return
    conn.info.pop(_TABLES, None)
    conn.info.pop(_SAVED, None)


@event.listens_for(Engine, "release_savepoint")
def _on_release(conn, name, context):
    # Visible to this connection's later statements (the test suite serves its requests inside one
    # outer transaction): count them now; the outer commit counts them again.
    if conn.invalidated:
        return
    tables = conn.info.pop(_TABLES, None)
    if tables:
        conn.info.setdefault(_SAVED, set()).update(tables)
        _tick(_url(conn), tables)


@event.listens_for(Engine, "rollback_savepoint")
def _on_rollback_savepoint(conn, name, context):
    if not conn.invalidated:
        conn.info.pop(_TABLES, None)


# -- the readers' side ----------------------------------------------------------------------------


class _Recording:
    __slots__ = ("pure", "tables")

    def __init__(self):
        self.tables: set[str] = set()
        self.pure = True

    def saw(self, statement: str) -> None:
        head = statement.lstrip()[:9].upper()
        if head.startswith(("SELECT", "WITH")):
            self.tables.update(name.lower() for name in _READS.findall(statement))
        elif not head.startswith(_NEUTRAL):
            self.pure = False


# Statements that neither read nor write rows (transaction control, a session's settings).
_NEUTRAL = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "SET ", "SHOW ")

_recording: contextvars.ContextVar[_Recording | None] = contextvars.ContextVar("taiji_read", default=None)


@dataclass
class _Answer:
    slots: tuple[int, ...]
    values: tuple[int, ...]
    stored: float
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class ReadCache:
    def __init__(self, url: str, data_dir: str, max_age: float):
        self.url = url
        self.data_dir = data_dir
        self.max_age = max_age
        self._answers: dict = {}
        self._bytes = 0  # bodies stored since the last clear (a replaced answer counts twice: an upper bound)
        register(url, data_dir)

    def _ready(self) -> bool:
        """Changes from other machines reach this process (or there are none: SQLite)."""
        if not self.url.startswith("postgresql"):
            return True
        from taiji.platform import authcache

        return authcache.listening(self.url, self.data_dir)

    def lookup(self, key):
        answer = self._answers.get(key)
        if answer is None:
            return None
        tick = clock(self.data_dir)
        if (time.monotonic() - answer.stored > self.max_age
                or any(tick.value(s) != v for s, v in zip(answer.slots, answer.values, strict=True))):
            self._answers.pop(key, None)
            return None
        return answer

    def store(self, key, before: bytes, recording: _Recording, response: Response) -> None:
        if not recording.pure or not recording.tables or response.status_code != 200:
            return
        if response.direct_passthrough or response.is_streamed or "Set-Cookie" in response.headers:
            return
        body = response.get_data()
        if len(body) > MAX_BYTES:
            return
        slots = tuple(sorted({slot_of(t) for t in recording.tables}))
        values = tuple(struct.unpack_from("<Q", before, 8 * s)[0] for s in slots)
        if len(self._answers) >= MAX_ENTRIES or self._bytes + len(body) > MAX_TOTAL_BYTES:
            self._answers.clear()
            self._bytes = 0
        self._bytes += len(body)
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        self._answers[key] = _Answer(slots, values, time.monotonic(), response.status_code, headers, body)


def _key():
    from taiji.platform import auth, tenancy

    principal = auth.current_principal()
    if principal is None:
        return None
    tenant = tenancy.current()
    return (request.endpoint, request.full_path, principal.user_id, principal.token_id, principal.client_id,
            principal.scopes, getattr(tenant, "id", None), request.headers.get("Accept", ""),
            request.headers.get("Accept-Language", ""), principal.locale)


def begin_request() -> None:
    """before_request, before anything reads: the clock as it was, and a record of what is read
    (a blueprint's own hooks may load the objects a view then only serializes)."""
    from taiji.platform import registry as registries

    cache = registries.current().read_cache
    if cache is None or request.method != "GET":
        return
    g._read_before = clock(cache.data_dir).snapshot()
    g._read_recording = recording = _Recording()
    g._read_token = _recording.set(recording)


def end_request(exc=None) -> None:
    """teardown_request: stop recording."""
    token = g.pop("_read_token", None)
    if token is not None:
        _recording.reset(token)


def cached_read(view):
    """Keep this GET endpoint's answers (see the module's text). Put it below ``auth.require``:
    access is checked on every request, the answer is only what comes after."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        from taiji.platform import registry as registries

        cache = registries.current().read_cache
        recording = g.get("_read_recording")
        if (cache is None or recording is None or "If-None-Match" in request.headers
                or not cache._ready()):
            return view(*args, **kwargs)
        key = _key()
        if key is None:
            return view(*args, **kwargs)
        answer = cache.lookup(key)
        if answer is not None:
            g.read_cache = "hit"
            response = Response(answer.body, status=answer.status, headers=answer.headers)
            response.headers[HIT_HEADER] = "hit"
            return response
        response = current_app.make_response(view(*args, **kwargs))
        cache.store(key, g._read_before, recording, response)
        g.read_cache = "miss"
        return response

    return wrapper
