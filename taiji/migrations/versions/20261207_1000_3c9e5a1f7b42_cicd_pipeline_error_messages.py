"""CICD: a pipeline keeps its `.taiji.yml` errors as messages, to show them in the reader's language

Revision ID: 3c9e5a1f7b42
Revises: 7a3c1e9b5d20
Created: 2026-12-07 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '3c9e5a1f7b42'
down_revision = '7a3c1e9b5d20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cicd_pipeline') as batch:
        batch.add_column(sa.Column('error_messages', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('cicd_pipeline') as batch:
        batch.drop_column('error_messages')
