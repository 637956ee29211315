"""VCS: a mirror fetch claims its mirror (one fetch at a time, no transaction held across git)

Revision ID: a1c3e5f70b21
Revises: db05d49f911c
Created: 2026-11-27 09:00:00
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = 'a1c3e5f70b21'
down_revision = 'db05d49f911c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('vcs_external_source', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fetch_claim', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('fetch_claimed_until', taiji.platform.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('fetch_again', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('vcs_external_source', schema=None) as batch_op:
        batch_op.drop_column('fetch_again')
        batch_op.drop_column('fetch_claimed_until')
        batch_op.drop_column('fetch_claim')
