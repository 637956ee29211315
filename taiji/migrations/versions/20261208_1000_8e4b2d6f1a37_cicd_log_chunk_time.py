"""CICD: a log chunk keeps when it was written and how many lines it ends, for the job log's
per-line times and numbers

Revision ID: 8e4b2d6f1a37
Revises: 3c9e5a1f7b42
Created: 2026-12-08 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = '8e4b2d6f1a37'
down_revision = '3c9e5a1f7b42'
branch_labels = None
depends_on = None


def upgrade():
    # No default: chunks written before this have no time (the log shows none for them).
    with op.batch_alter_table('cicd_log_chunk') as batch:
        batch.add_column(sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('newlines', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('cicd_log_chunk') as batch:
        batch.drop_column('newlines')
        batch.drop_column('created_at')
