"""CICD: the image a job ran in and its digest (container runners)

Revision ID: 5d2e8b7c4a19
Revises: 5b1e0c9d7a23
Created: 2026-12-06 13:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '5d2e8b7c4a19'
down_revision = '5b1e0c9d7a23'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cicd_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('image_digest', sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table('cicd_job', schema=None) as batch_op:
        batch_op.drop_column('image_digest')
        batch_op.drop_column('image')
