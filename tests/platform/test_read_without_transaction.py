"""GET and HEAD requests read on PostgreSQL without BEGIN and COMMIT (taiji/platform/db.py), and
open the transaction as soon as they do more than read: what a GET writes is still one unit of work,
committed or rolled back whole, and a row lock is held until the request ends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from taiji.platform import auth
from taiji.platform.db import db
from tests.conftest import app_overrides, sibling_database

pytestmark = pytest.mark.live

IN_TRANSACTION = "SELECT now() < statement_timestamp()"  # now() is the transaction's start


@pytest.fixture
def probe_app(tmp_path):
    url = sibling_database("readonly", tmp_path)
    if not url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (TAIJI_TEST_DATABASE_URL)")
    from taiji.platform.app import create_app

    app = create_app(app_overrides(url, tmp_path / "data"), modules=())

    def read():
        db.session.execute(sa.text("SELECT count(*) FROM probe"))
        db.session.execute(sa.text("SELECT pg_sleep(0.02)"))
        return {"in_transaction": db.session.execute(sa.text(IN_TRANSACTION)).scalar()}

    def write_then(fail: bool):
        def view():
            db.session.execute(sa.text("SELECT count(*) FROM probe"))
            db.session.execute(sa.text("INSERT INTO probe (n) VALUES (1)"))
            db.session.execute(sa.text("SELECT pg_sleep(0.02)"))
            db.session.execute(sa.text("INSERT INTO probe (n) VALUES (2)"))
            if fail:
                raise RuntimeError("the view failed after writing")
            return {"in_transaction": db.session.execute(sa.text(IN_TRANSACTION)).scalar()}
        return view

    def lock():
        db.session.execute(sa.text("SELECT n FROM probe FOR UPDATE"))
        db.session.execute(sa.text("SELECT pg_sleep(0.02)"))
        return {"in_transaction": db.session.execute(sa.text(IN_TRANSACTION)).scalar()}

    views = {"read": read, "write": write_then(False), "fail": write_then(True), "lock": lock}
    for name, view in views.items():
        rule = f"/api/v1/probe/{name}"
        app.add_url_rule(rule, name, auth.public(view))
        app.add_url_rule(rule, f"{name}_post", auth.public(view), methods=["POST"])
    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE probe (n integer)")
        yield app
        db.session.remove()
        db.engine.dispose()


def _rows(app) -> list[int]:
    with app.app_context(), db.engine.connect() as conn:
        return [n for (n,) in conn.exec_driver_sql("SELECT n FROM probe ORDER BY n")]


def test_a_get_that_only_reads_runs_no_transaction_and_a_post_does(probe_app):
    client = probe_app.test_client()
    assert client.get("/api/v1/probe/read").get_json() == {"in_transaction": False}
    assert client.post("/api/v1/probe/read").get_json() == {"in_transaction": True}


def test_what_a_get_writes_commits_together_or_not_at_all(probe_app):
    client = probe_app.test_client()
    assert client.get("/api/v1/probe/write").get_json() == {"in_transaction": True}
    assert _rows(probe_app) == [1, 2]
    assert client.get("/api/v1/probe/fail").status_code == 500
    assert _rows(probe_app) == [1, 2]  # neither row of the failed request


def test_a_row_lock_taken_by_a_get_is_held_in_a_transaction(probe_app):
    client = probe_app.test_client()
    client.get("/api/v1/probe/write")
    assert client.get("/api/v1/probe/lock").get_json() == {"in_transaction": True}
    # The connection went back to the pool as it came: the next POST runs in a transaction as usual.
    assert client.post("/api/v1/probe/read").get_json() == {"in_transaction": True}
