"""Alembic environment: runs inside the Flask application so models and URL are Taiji's."""

from __future__ import annotations

from alembic import context
from flask import current_app

from taiji.platform.db import db

config = context.config


def _include(obj, name, type_, reflected, compare_to):
    # Tables of other tools that may share the database (kombu's SQL transport) are not ours.
    return not (type_ == "table" and reflected and compare_to is None and not name.startswith(
        ("kernel_", "iam_", "tm_", "spm_", "scm_", "sem_", "srm_", "vcs_", "cicd_", "bpr_", "dpr_",
         "qaf_", "umc_", "pm_", "im_", "mkt_", "tx_")))


def run_offline() -> None:
    context.configure(url=str(db.engine.url), target_metadata=db.metadata, literal_binds=True,
                      render_as_batch=True, include_object=_include)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    with db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=db.metadata, render_as_batch=True,
                          compare_type=True, include_object=_include)
        with context.begin_transaction():
            context.run_migrations()


assert current_app, "migrations run inside the Taiji application"
if context.is_offline_mode():
    run_offline()
else:
    run_online()
