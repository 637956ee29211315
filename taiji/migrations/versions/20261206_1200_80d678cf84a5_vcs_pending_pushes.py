"""VCS: pushes of mirrored repositories wait for the fetch that brings their commit

Revision ID: 80d678cf84a5
Revises: 8fa535d40a67
Created: 2026-12-06 10:20:00
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = '80d678cf84a5'
down_revision = '8fa535d40a67'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'vcs_pending_push',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('repository_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('delivery_id', sa.String(length=100), nullable=True),
        sa.Column('ref', sa.String(length=255), nullable=False),
        sa.Column('before', sa.String(length=64), nullable=False),
        sa.Column('after', sa.String(length=64), nullable=False),
        sa.Column('pusher', sa.JSON(), nullable=True),
        sa.Column('commits', sa.JSON(), nullable=False),
        sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['repository_id'], ['vcs_repository.id'],
                                name=op.f('fk_vcs_pending_push_repository_id_vcs_repository'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_pending_push')),
        sa.UniqueConstraint('repository_id', 'key', name=op.f('uq_vcs_pending_push_repository_id_key')),
    )
    op.create_index(op.f('ix_vcs_pending_push_repository_id'), 'vcs_pending_push', ['repository_id'],
                    unique=False)


def downgrade():
    op.drop_index(op.f('ix_vcs_pending_push_repository_id'), table_name='vcs_pending_push')
    op.drop_table('vcs_pending_push')
