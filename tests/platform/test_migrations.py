"""Models and migrations agree, and the history runs both ways from an empty database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from taiji.platform.db import db, migrated_object
from taiji.platform.tasks import init_celery
from tests.conftest import ROOT, app_overrides, sibling_database

MIGRATIONS = str(ROOT / "taiji" / "migrations")


def _differences(connection) -> list:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": migrated_object})
    return compare_metadata(context, db.metadata)


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_migrated_schema_matches_the_models(app):
    # `app` was built by running every migration; autogenerate must find nothing to write.
    differences = _differences(db.session.connection())
    assert differences == [], f"models and migrations disagree; write a migration for: {differences}"


@pytest.fixture
def empty_database_app(app, tmp_path):
    from taiji.platform.app import create_app

    url = sibling_database("migrations", tmp_path)
    fresh = create_app(app_overrides(url, tmp_path / "data"))
    yield fresh
    with fresh.app_context():
        db.engine.dispose()
    init_celery(app)  # the Celery app is process-wide: hand it back


def test_history_upgrades_from_empty_downgrades_to_base_and_upgrades_again(empty_database_app):
    with empty_database_app.app_context():
        engine = db.engine
        assert _tables(engine) <= {"alembic_version"}

        upgrade(directory=MIGRATIONS)
        created = _tables(engine)
        assert {"kernel_outbox", "kernel_tenant", "iam_user"} <= created

        downgrade(directory=MIGRATIONS, revision="base")
        assert _tables(engine) <= {"alembic_version"}

        upgrade(directory=MIGRATIONS)
        assert _tables(engine) == created
        with engine.connect() as connection:
            assert _differences(connection) == []
        db.session.remove()


@pytest.mark.no_database  # with two heads the session's app cannot migrate: this test must still say why
def test_the_history_is_one_line_from_one_base_to_one_head():
    """Two changes that each add a migration on the same parent both pass their own suite and fork
    the history; `taiji db upgrade` then refuses to run ("multiple heads"). This test catches the
    fork when the second change is merged, and says which revisions to re-chain."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    scripts = ScriptDirectory.from_config(config)
    heads, bases = scripts.get_heads(), scripts.get_bases()
    assert len(heads) == 1, f"several migration heads {heads}: re-chain all but one onto another's head"
    assert len(bases) == 1, f"several first migrations {bases}: give all but one a down_revision"
    every = {script.revision: script for script in scripts.walk_revisions()}
    merges = [rev for rev, script in every.items() if isinstance(script.down_revision, tuple | list)]
    forks = [rev for rev, script in every.items() if len(script.nextrev) > 1]
    assert not merges and not forks, f"merges {merges}, branch points {forks}: keep the history linear"
    chain, revision = [], heads[0]
    while revision is not None:
        chain.append(revision)
        revision = every[revision].down_revision
    assert chain[-1] == bases[0] and sorted(chain) == sorted(every), "a revision is off the head's line"
