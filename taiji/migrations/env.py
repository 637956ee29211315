"""Alembic environment: runs inside the Flask application so models and URL are Taiji's."""

from __future__ import annotations

from alembic import context
from flask import current_app

from taiji.platform.db import db, migrated_object

config = context.config


def _skip_empty_revision(_context, _revision, directives) -> None:
    # `flask db migrate` with nothing to change writes no file rather than an empty one.
    autogenerate = getattr(config.cmd_opts, "autogenerate", False)
    if autogenerate and directives and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def run_offline() -> None:
    context.configure(url=str(db.engine.url), target_metadata=db.metadata, literal_binds=True,
                      render_as_batch=True, include_object=migrated_object)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    with db.engine.connect() as connection:
        # render_as_batch: SQLite alters a table by copying it, which batch mode writes for us.
        context.configure(connection=connection, target_metadata=db.metadata, render_as_batch=True,
                          compare_type=True, include_object=migrated_object,
                          process_revision_directives=_skip_empty_revision)
        with context.begin_transaction():
            context.run_migrations()


assert current_app, "migrations run inside the Taiji application"
if context.is_offline_mode():
    run_offline()
else:
    run_online()
