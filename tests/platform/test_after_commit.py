"""What waits for a unit of work's commit (taiji.platform.db.after_commit) waits for the real one.

SQLAlchemy announces a released savepoint as a commit too. Callbacks run then had run for work a
later rollback undid, and one that writes through a connection of its own (a token's last use)
waited on SQLite for the lock its own request held: a request that added a row in a savepoint
(SCM's insert-or-take-theirs) hung until SQLite gave up."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.db import after_commit, counting_commits, db


def test_a_released_savepoint_is_not_the_commit(app):
    ran = []
    with counting_commits() as commits:
        after_commit(lambda: ran.append("done"))
        with db.session.begin_nested():
            db.session.execute(sa.text("SELECT 1"))
        assert ran == [] and commits == [0]
        db.session.commit()
    assert ran == ["done"] and commits == [1]


def test_work_rolled_back_after_a_savepoint_runs_no_callback(app):
    ran = []
    after_commit(lambda: ran.append("done"))
    with db.session.begin_nested():
        db.session.execute(sa.text("SELECT 1"))
    db.session.rollback()
    db.session.commit()
    assert ran == []
