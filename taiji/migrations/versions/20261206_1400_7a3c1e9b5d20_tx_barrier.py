"""TX: the barrier table of in-process transaction steps (local participants)

Revision ID: 7a3c1e9b5d20
Revises: 5d2e8b7c4a19
Created: 2026-12-06 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '7a3c1e9b5d20'
down_revision = '5d2e8b7c4a19'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'tx_barrier',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('gid', sa.String(length=64), nullable=False),
        sa.Column('branch', sa.String(length=100), nullable=False),
        sa.Column('op', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tx_barrier')),
        sa.UniqueConstraint('gid', 'branch', 'op', name='uq_tx_barrier_gid_branch_op'),
    )


def downgrade():
    op.drop_table('tx_barrier')
