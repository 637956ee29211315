"""TM: an invitation can be declined by the person invited; invitations are looked up by email

Revision ID: 4b7e91c2d0a3
Revises: a1c3e5f70b21
Created: 2026-12-06 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = '4b7e91c2d0a3'
down_revision = 'a1c3e5f70b21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tm_invitation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declined_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_tm_invitation_email'), ['email'], unique=False)


def downgrade():
    with op.batch_alter_table('tm_invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tm_invitation_email'))
        batch_op.drop_column('declined_at')
