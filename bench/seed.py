"""The benchmark's database: a fresh PostgreSQL database when a server answers, else SQLite.

Volume is inserted with SQLAlchemy Core in a few statements (tenants, their owners, memberships
and role bindings); the people and tokens the load uses are made through the real services.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

BENCH_TENANT = "bench"
MEMBERS_IN_BENCH_TENANT = 25
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/taiji_bench"


def choose_database(data_dir: Path) -> str:
    """TAIJI_BENCH_DATABASE_URL, else a fresh ``taiji_bench`` on the local PostgreSQL, else SQLite."""
    url = os.environ.get("TAIJI_BENCH_DATABASE_URL") or DEFAULT_SERVER
    if url.startswith("postgresql"):
        parsed = make_url(url)
        admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT",
                                 connect_args={"connect_timeout": 3})
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
        except sa.exc.OperationalError:
            if os.environ.get("TAIJI_BENCH_DATABASE_URL"):
                raise
            return f"sqlite:///{data_dir / 'bench.db'}"
        finally:
            admin.dispose()
        return url
    return url


def describe(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                version = conn.exec_driver_sql("SHOW server_version").scalar_one()
                return f"PostgreSQL {version.split()[0]} ({make_url(url).database})"
            version = conn.exec_driver_sql("SELECT sqlite_version()").scalar_one()
            return f"SQLite {version}"
    finally:
        engine.dispose()


def _tables():
    from taiji.platform.db import db

    tables = db.metadata.tables
    return tables["kernel_tenant"], tables["iam_user"], tables["tm_member"], tables["iam_role_binding"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_people(app) -> dict:
    """An administrator, the bench tenant's owner (with a token) and its members."""
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db

    password = secrets.token_urlsafe(16)
    with app.app_context():
        admin = iam.create_user("admin@bench.example.com", "Bench admin", password, admin=True)
        owner = iam.create_user("owner@bench.example.com", "Bench owner", password)
        tm.create_tenant(BENCH_TENANT, "Benchmark", owner_id=owner.id)
        _, admin_token = iam.create_token(admin, "bench")
        _, owner_token = iam.create_token(owner, "bench")
        db.session.commit()
        tenant_id = db.session.execute(
            sa.text("SELECT id FROM kernel_tenant WHERE slug = :s"), {"s": BENCH_TENANT}
        ).scalar_one()
        _bulk_members(db.engine, tenant_id, MEMBERS_IN_BENCH_TENANT - 1)
    return {"admin_token": admin_token, "owner_token": owner_token}


def _bulk_members(engine, tenant_id: int, count: int) -> None:
    _, users, members, bindings = _tables()
    now = _now()
    with engine.begin() as conn:
        conn.execute(users.insert(), [
            {"email": f"member{i}@bench.example.com", "name": f"Member {i}", "password_hash": None,
             "status": "active", "session_epoch": 0, "created_at": now, "updated_at": now}
            for i in range(count)
        ])
        ids = conn.execute(
            sa.select(users.c.id).where(users.c.email.like("member%@bench.example.com"))
        ).scalars().all()
        conn.execute(members.insert(), [
            {"tenant_id": tenant_id, "user_id": uid, "joined_at": now, "invited_by_id": None} for uid in ids
        ])
        conn.execute(bindings.insert(), [
            {"user_id": uid, "tenant_id": tenant_id, "role": "member", "created_at": now} for uid in ids
        ])


def add_tenants(app, count: int) -> None:
    """``count`` more tenants, each with its own owner, membership and role binding."""
    from taiji.platform.db import db

    tenants, users, members, bindings = _tables()
    now = _now()
    with app.app_context():
        engine = db.engine
        with engine.begin() as conn:
            # Numbered after the tenants seeded before, so the database can be grown in steps.
            start = conn.execute(sa.select(sa.func.count()).select_from(tenants)
                                 .where(tenants.c.slug.like("seed-%"))).scalar_one()
            conn.execute(tenants.insert(), [
                {"slug": f"seed-{i:05d}", "name": f"Seeded tenant {i}", "status": "active", "version": 1,
                 "created_at": now, "updated_at": now}
                for i in range(start, start + count)
            ])
            conn.execute(users.insert(), [
                {"email": f"owner-{i:05d}@seed.example.com", "name": f"Owner {i}", "password_hash": None,
                 "status": "active", "session_epoch": 0, "created_at": now, "updated_at": now}
                for i in range(start, start + count)
            ])
            tenant_ids = dict(conn.execute(
                sa.select(tenants.c.slug, tenants.c.id).where(tenants.c.slug.like("seed-%"))
            ).all())
            user_ids = dict(conn.execute(
                sa.select(users.c.email, users.c.id).where(users.c.email.like("owner-%@seed.example.com"))
            ).all())
            pairs = [(tenant_ids[f"seed-{i:05d}"], user_ids[f"owner-{i:05d}@seed.example.com"])
                     for i in range(start, start + count)]
            conn.execute(members.insert(), [
                {"tenant_id": t, "user_id": u, "joined_at": now, "invited_by_id": None} for t, u in pairs
            ])
            conn.execute(bindings.insert(), [
                {"user_id": u, "tenant_id": t, "role": "owner", "created_at": now} for t, u in pairs
            ])
        # Fresh planner statistics, as a database of that size would have.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def count_tenants(app) -> int:
    from taiji.platform.db import db

    with app.app_context():
        return db.session.execute(sa.text("SELECT count(*) FROM kernel_tenant")).scalar_one()
