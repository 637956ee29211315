"""CICD: protected secrets, given only to pipelines of protected branches

Revision ID: 3c9e5a7d1f42
Revises: 80d678cf84a5
Created: 2026-12-06 11:00:00

Existing secrets become protected: until now any member could push a branch whose job prints
them, which is the hole this closes. An owner unprotects a secret meant for every branch.
"""

import sqlalchemy as sa
from alembic import op

revision = '3c9e5a7d1f42'
down_revision = '80d678cf84a5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cicd_secret', schema=None) as batch_op:
        batch_op.add_column(sa.Column('protected', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('cicd_pipeline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('protected', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('cicd_pipeline', schema=None) as batch_op:
        batch_op.drop_column('protected')
    with op.batch_alter_table('cicd_secret', schema=None) as batch_op:
        batch_op.drop_column('protected')
