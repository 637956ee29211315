"""VCS: room held in the storage quota by pushes between their check and their measurement

Revision ID: 8fa535d40a67
Revises: ba2f69237749
Created: 2026-12-06 10:10:00
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = '8fa535d40a67'
down_revision = 'ba2f69237749'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'vcs_storage_reservation',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('repository_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('push_id', sa.String(length=64), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.ForeignKeyConstraint(['repository_id'], ['vcs_repository.id'],
                                name=op.f('fk_vcs_storage_reservation_repository_id_vcs_repository'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'],
                                name=op.f('fk_vcs_storage_reservation_tenant_id_kernel_tenant'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_storage_reservation')),
        sa.UniqueConstraint('push_id', name=op.f('uq_vcs_storage_reservation_push_id')),
    )
    op.create_index(op.f('ix_vcs_storage_reservation_created_at'), 'vcs_storage_reservation', ['created_at'],
                    unique=False)
    op.create_index(op.f('ix_vcs_storage_reservation_repository_id'), 'vcs_storage_reservation',
                    ['repository_id'], unique=False)
    op.create_index(op.f('ix_vcs_storage_reservation_tenant_id'), 'vcs_storage_reservation', ['tenant_id'],
                    unique=False)


def downgrade():
    op.drop_index(op.f('ix_vcs_storage_reservation_tenant_id'), table_name='vcs_storage_reservation')
    op.drop_index(op.f('ix_vcs_storage_reservation_repository_id'), table_name='vcs_storage_reservation')
    op.drop_index(op.f('ix_vcs_storage_reservation_created_at'), table_name='vcs_storage_reservation')
    op.drop_table('vcs_storage_reservation')
