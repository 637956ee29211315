"""Database units: pooled connections pinged only after being idle (and replaced when dead), and a
read-only transaction ended before long work."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from taiji.platform.db import ping_when_idle

pytestmark = pytest.mark.live  # its own engines, outside the per-test transaction


def _engine(database_url: str, idle_seconds: float) -> tuple[sa.Engine, list[str]]:
    engine = sa.create_engine(database_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds)
    pings: list[str] = []
    original = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append("ping")
        return original(dbapi_connection)

    engine.dialect.do_ping = counted
    return engine, pings


def test_a_connection_handed_back_a_moment_ago_is_not_pinged(database_url):
    engine, pings = _engine(database_url, idle_seconds=60)
    try:
        for _ in range(5):
            with engine.connect() as conn:
                assert conn.scalar(sa.text("SELECT 1")) == 1
        assert pings == []
    finally:
        engine.dispose()


def test_an_idle_connection_is_pinged_before_use(database_url):
    engine, pings = _engine(database_url, idle_seconds=0.05)
    try:
        with engine.connect() as conn:
            conn.scalar(sa.text("SELECT 1"))
        time.sleep(0.1)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT 1")) == 1
        assert pings == ["ping"]
    finally:
        engine.dispose()


def test_a_connection_the_server_closed_while_idle_is_replaced(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("needs a database server that can end a client's connection (PostgreSQL)")
    engine, pings = _engine(database_url, idle_seconds=0.05)
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            victim = conn.scalar(sa.text("SELECT pg_backend_pid()"))
        with admin.connect() as conn:
            assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        time.sleep(0.1)
        # The pooled connection is dead; the ping finds out and the pool opens a new one.
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT pg_backend_pid()")) != victim
        assert pings  # the dead connection was pinged (and the new one too, when checked out)
    finally:
        engine.dispose()
        admin.dispose()


@pytest.mark.live
def test_a_read_only_transaction_ends_and_one_that_wrote_stays(app, database_url):
    from taiji.platform.db import db, end_read_only_transaction
    from taiji.platform.tenancy import Tenant

    table = Tenant.__table__
    with app.app_context():
        try:
            db.session.execute(sa.select(table.c.id).limit(1)).all()
            assert db.session().in_transaction()
            assert end_read_only_transaction() is True
            assert not db.session().in_transaction()  # connection back in the pool, no snapshot held

            db.session.execute(sa.update(table).where(table.c.id == -1).values(name="x"))
            db.session.execute(sa.text("CREATE TEMPORARY TABLE scratch_written (v int)"))
            db.session.execute(sa.text("INSERT INTO scratch_written VALUES (1)"))
            assert end_read_only_transaction() is False  # it wrote: the unit of work stays one
            assert db.session().in_transaction()
        finally:
            db.session.rollback()
            db.session.remove()
