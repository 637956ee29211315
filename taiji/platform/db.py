"""Model base, shared column types, mixins and the unit of work.

Services flush, never commit: a request or a task is one unit of work whose end commits
(``commit()``) or rolls back. ``after_commit`` callbacks run only once the data is durable,
which is when background work may be enqueued.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from flask import has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

log = logging.getLogger("taiji.db")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timestamps are stored as UTC and always come back timezone-aware (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


intpk = Annotated[int, mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)]
uuidpk = Annotated[uuid.UUID, mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)]
str50 = Annotated[str, mapped_column(sa.String(50))]
str100 = Annotated[str, mapped_column(sa.String(100))]
str255 = Annotated[str, mapped_column(sa.String(255))]
text = Annotated[str, mapped_column(sa.Text)]
timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime)]
json_dict = Annotated[dict, mapped_column(sa.JSON)]


# Every table of Taiji starts with the code of its owner: the kernel's with these, a module's with
# ``<code>_`` (Module.table_prefix). Other tools sharing the database (kombu's SQL transport, an
# operator's own tables) are left alone by migrations.
KERNEL_TABLE_PREFIXES = ("kernel_", "tx_")  # tx_: the transaction engine's (taiji/platform/tx)


def table_prefixes() -> tuple[str, ...]:
    """The prefixes of the tables Taiji owns: the kernel's and those of the current app's modules."""
    from taiji.platform import registry

    return (*KERNEL_TABLE_PREFIXES, *(module.table_prefix for module in registry.current().modules))


def migrated_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's ``include_object``: a table found only in the database counts when it is ours (its
    prefix is the kernel's or an enabled module's)."""
    only_in_database = type_ == "table" and reflected and compare_to is None
    return not (only_in_database and not name.startswith(table_prefixes()))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
Model = db.Model


class TimestampMixin:
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantOwnedMixin:
    """Every tenant-owned row names its tenant; lookups always go through it."""

    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("kernel_tenant.id", ondelete="CASCADE"), index=True)


T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def paginate(stmt: sa.Select, page: int = 1, page_size: int = 20, scalars: bool = True) -> Page:
    """Run ``stmt`` for one page, with the total count of rows it would return."""
    page = max(1, page)
    page_size = max(1, min(page_size, 100))
    # The total rides along as a window count: one round trip instead of two for every list.
    windowed = stmt.add_columns(sa.func.count().over().label("_page_total"))
    rows = db.session.execute(windowed.limit(page_size).offset((page - 1) * page_size)).all()
    if rows:
        total = rows[0][-1]
    elif page == 1:
        total = 0
    else:  # past the last page: the window saw no rows, so count separately
        counted = sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
        total = db.session.execute(counted).scalar_one()
    items = [row[0] for row in rows] if scalars else [tuple(row[:-1]) for row in rows]
    return Page(items=items, total=total, page=page, page_size=page_size)


# -- unit of work ---------------------------------------------------------------------------

_AFTER_COMMIT_KEY = "taiji_after_commit"


def after_commit(callback: Callable[[], Any], *, once: bool = False) -> None:
    """Run ``callback`` once the current unit of work has committed; dropped on rollback.

    ``once``: skip it when the same callback is already waiting for this commit.
    """
    queued = db.session.info.setdefault(_AFTER_COMMIT_KEY, [])
    if once and callback in queued:
        return
    queued.append(callback)


# Commits made in this context since ``counting_commits`` began (a task run again whole after
# SQLite refused it must not have committed part of its work already).
_commits: ContextVar[list[int] | None] = ContextVar("taiji_commits", default=None)


@contextmanager
def counting_commits() -> Iterator[list[int]]:
    """Count the sessions' commits in this context: yields a one-item list holding the count."""
    box = [0]
    token = _commits.set(box)
    try:
        yield box
    finally:
        _commits.reset(token)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        # A savepoint was released (SQLAlchemy announces that as a commit too): the unit of work
        # has not committed, and may still roll back. Its callbacks wait for the real commit; run
        # now, one that writes through its own connection waited on SQLite for the lock this very
        # unit held, and every one of them ran for work a later rollback could undo.
        return
    box = _commits.get()
    if box is not None:
        box[0] += 1
    callbacks = session.info.pop(_AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        # The data is durable already: a failing callback must neither turn the commit into
        # an error for the caller nor stop the callbacks after it.
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed", extra={"callback": repr(callback)})


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None or not session.in_transaction():
        session.info.pop(_AFTER_COMMIT_KEY, None)


SQLITE_BUSY_TIMEOUT_MS = 20_000


@event.listens_for(sa.engine.Engine, "connect")
def _sqlite_connect(dbapi_connection, record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        # Let SQLAlchemy emit BEGIN itself: pysqlite's own handling breaks SAVEPOINTs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # How long a writer waits for another's lock. Writers queue for it and SQLite's wait is
        # polling, not a queue: on a loaded 2-core machine, with units run again under the lock
        # (below), 5 s let replayed sign-ins time out; a request waiting longer than this is
        # better answered 503 than kept.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # Overwrite what a deleted or rewritten row held instead of leaving it in the file's free
        # space (a value sealed after the fact, a rotated key's seals). Some builds of SQLite do so
        # by default, others not.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


_SQLITE_CHANGES_AT_BEGIN = "taiji_changes_at_begin"

# -- SQLite and concurrent writers ------------------------------------------------------------
#
# SQLite has one writer at a time. A deferred transaction (plain BEGIN) that has read and then
# writes must turn its read snapshot into the write lock; when another connection committed in
# between, SQLite refuses at once with SQLITE_BUSY_SNAPSHOT ("database is locked"): the busy timeout
# cannot wait that out, the snapshot itself is stale. A transaction begun with BEGIN IMMEDIATE takes
# the write lock first (waiting for it up to busy_timeout) and is never refused that way.
#
# Taiji's unit of work is a whole request or task, so taking the write lock at its start would hold
# it while the unit hashes a password, renders a page or calls out over HTTP: writing requests
# would run one at a time and starve the other processes' writers (measured: with two jobs
# streaming logs and six clients signing in and creating through the API, the jobs' log writes
# waited past the busy timeout again and again). So units of work begin deferred, as before — reads
# run side by side and nothing holds the lock until the first write — and a unit that SQLite
# refused is run again whole, this time with BEGIN IMMEDIATE, which cannot be refused for a stale
# snapshot again (it can only wait for the lock):
# - a request is replayed once by ``app._ReplayRefusedRequests`` when its body was small enough to
#   keep (uploads that stream end their transaction before the body and write first afterwards);
#   the refused attempt was rolled back and its answer never sent. Only the refused write and what
#   the request did before it are done twice: side effects outside the database wait for the
#   commit (``after_commit``), so they never ran.
# - a Celery task runs again with the lock when it had committed nothing yet (tasks are idempotent
#   already: delivery is at least once). See ``tasks.UnitOfWorkTask``.
# What still cannot be done within busy_timeout is a 503 with Retry-After, never a 500.
# PostgreSQL has row locks and no such refusal: none of this applies to it.

# Set on a request's WSGI environ: begin its units of work with the write lock (a replay).
WRITE_LOCK_ENVIRON = "taiji.sqlite_write_lock"
# An explicit choice for the units of work begun in this context (a task run again).
_write_lock: ContextVar[bool | None] = ContextVar("taiji_sqlite_write_lock", default=None)


@contextmanager
def sqlite_patience(seconds: float) -> Iterator[None]:
    """On SQLite, the statements run inside wait at most ``seconds`` for another connection's lock
    (instead of SQLITE_BUSY_TIMEOUT_MS), then fail as busy: for work that must give up in time, such
    as a runner's heartbeat. Run only statements inside, not the commit. No effect on PostgreSQL."""
    connection = db.session.connection()
    raw = connection.connection.dbapi_connection
    if not isinstance(raw, sqlite3.Connection):
        yield
        return
    raw.execute(f"PRAGMA busy_timeout={max(1, int(seconds * 1000))}")
    try:
        yield
    finally:
        try:
            raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except sqlite3.Error:  # the connection is broken: the pool replaces it, with its own setting
            log.debug("could not restore the busy timeout", exc_info=True)


@contextmanager
def write_lock_first(on: bool = True) -> Iterator[None]:
    """On SQLite, units of work begun inside take the write lock at BEGIN (``on``) or read
    with a deferred BEGIN (``on=False``), whatever the request. No effect on PostgreSQL."""
    token = _write_lock.set(on)
    try:
        yield
    finally:
        _write_lock.reset(token)


def _takes_write_lock() -> bool:
    chosen = _write_lock.get()
    if chosen is not None:
        return chosen
    return has_request_context() and bool(request.environ.get(WRITE_LOCK_ENVIRON))


def is_sqlite_busy(exc: BaseException) -> bool:
    """Whether ``exc`` (a SQLAlchemy error or the driver's own) is SQLite refusing for another
    writer: SQLITE_BUSY with its variants (BUSY_SNAPSHOT, BUSY_TIMEOUT) or SQLITE_LOCKED."""
    orig = getattr(exc, "orig", exc)
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    return getattr(orig, "sqlite_errorcode", 0) & 0xFF in {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


@event.listens_for(sa.engine.Engine, "begin")
def _sqlite_begin(connection) -> None:
    # pysqlite emits no BEGIN of its own (isolation_level=None at connect), so the transaction is
    # begun here, as the SQLAlchemy SQLite dialect documents for pysqlite.
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _takes_write_lock() else "BEGIN")
        connection.info[_SQLITE_CHANGES_AT_BEGIN] = connection.connection.driver_connection.total_changes


# -- reads without a transaction (PostgreSQL) ----------------------------------------------------
# A GET or HEAD request's unit of work reads; wrapping its SELECTs in BEGIN ... COMMIT cost two of
# an API read's four round trips. Under READ COMMITTED every statement sees its own snapshot
# whether or not a transaction is open, so such a unit of work starts in autocommit, and the first
# statement that is not a plain SELECT (a write, a row lock, an advisory lock, a savepoint, a
# sequence, a notification) opens the transaction before it runs: from there it is the usual unit
# of work, committed or rolled back whole at the end of the request.
_READING = "taiji_reading"
_PLAIN_SELECT = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_NEEDS_TRANSACTION = re.compile(
    r"\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY|KEY\s+SHARE)\b|pg_advisory|nextval|setval|pg_notify|_xact_|txid_",
    re.IGNORECASE)


@event.listens_for(sa.engine.Engine, "begin")
def _postgresql_begin(connection) -> None:
    if (connection.dialect.name != "postgresql" or not has_request_context()
            or request.method not in ("GET", "HEAD")):
        return
    driver = connection.connection.driver_connection
    # Idle (nothing of an earlier transaction open), and not set to autocommit by its user already.
    if driver.info.transaction_status == 0 and not driver.autocommit:
        driver.autocommit = True
        connection.info[_READING] = True


@event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _begin_before_more_than_reading(conn, cursor, statement, parameters, context, executemany) -> None:
    if conn.info.get(_READING) and not (_PLAIN_SELECT.match(statement)
                                        and not _NEEDS_TRANSACTION.search(statement)):
        del conn.info[_READING]
        conn.connection.driver_connection.autocommit = False  # psycopg sends BEGIN before this statement


@event.listens_for(sa.pool.Pool, "checkin")
def _back_to_transactions(dbapi_connection, record) -> None:
    if record is not None and record.info.pop(_READING, None) and dbapi_connection is not None:
        dbapi_connection.autocommit = False


def _has_written(conn: sa.Connection) -> bool:
    if conn.dialect.name == "postgresql":
        # No transaction id yet: nothing was written (PostgreSQL 13+).
        return bool(conn.exec_driver_sql("SELECT pg_current_xact_id_if_assigned() IS NOT NULL").scalar())
    if conn.dialect.name == "sqlite":
        return conn.connection.driver_connection.total_changes != conn.info.get(_SQLITE_CHANGES_AT_BEGIN, -1)
    return True


def end_read_only_transaction() -> bool:
    """End the unit of work's database transaction now if it has written nothing; True if ended.

    For long work without the database in the middle of a request (streaming an upload): the
    connection goes back to the pool instead of waiting idle in a transaction, and on SQLite the
    writes that follow start from a fresh snapshot (a transaction that has read cannot write once
    another connection has committed since). Loaded objects stay as they are (not expired).
    Inside a savepoint (a caller's ``begin_nested``, the tests' outer transaction) or after a
    write nothing is ended: the unit of work stays one.
    """
    session = db.session()
    if not session.in_transaction():
        return True
    if session.new or session.dirty or session.deleted:
        return False
    conn = session.connection()
    if conn.in_nested_transaction() or _has_written(conn):
        return False
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
    return True


# A pooled connection is pinged before use only after it has been idle this long. A connection
# handed back a moment ago is as alive as a ping would show (the server could go away right after
# either), and a ping is a round trip per request or per transaction the engine runs: on loopback
# PostgreSQL a tenth of a millisecond, a few percent of a short request. Connections that were
# idle longer (a restarted server, a proxy's idle timeout) are pinged and replaced when dead.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "taiji_idle_since"


def ping_when_idle(engine: sa.Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Give ``engine``'s pool a pre-ping that runs only on connections idle for ``idle_seconds``
    (instead of ``pool_pre_ping``, which pings at every check-out)."""
    dialect = engine.dialect

    def fresh(dbapi_connection, record) -> None:
        if record is not None:  # None: a connection detached from the pool
            record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection, record, proxy) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            # The pool discards this connection and checks out another (a new one if need be).
            raise sa.exc.DisconnectionError(f"a pooled database connection was dead: {exc}") from exc

    event.listen(engine.pool, "connect", fresh)
    event.listen(engine.pool, "checkin", fresh)
    event.listen(engine.pool, "checkout", checkout)


def commit() -> None:
    db.session.commit()


def rollback() -> None:
    db.session.rollback()


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"
