"""CI: pipelines, jobs, logs, artifacts, secrets

Revision ID: db05d49f911c
Revises: 6d7fe8b22544
Created: 2026-11-26 18:14:00
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = 'db05d49f911c'
down_revision = '6d7fe8b22544'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
