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
