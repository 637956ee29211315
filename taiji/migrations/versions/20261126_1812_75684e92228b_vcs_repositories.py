"""VCS: hosted repositories, protected branches, pushes

Revision ID: 75684e92228b
Revises: 35fa12b16a8d
Created: 2026-11-26 18:12:00
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = '75684e92228b'
down_revision = '35fa12b16a8d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('vcs_repository',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('live_name', sa.String(length=63), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('visibility', sa.String(length=20), nullable=False),
    sa.Column('default_branch', sa.String(length=255), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('component_ref', sa.String(length=130), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('deleted_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_vcs_repository_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_repository')),
    sa.UniqueConstraint('tenant_id', 'live_name', name=op.f('uq_vcs_repository_tenant_id_live_name'))
    )
    op.create_index(op.f('ix_vcs_repository_deleted_at'), 'vcs_repository', ['deleted_at'], unique=False)
    op.create_index(op.f('ix_vcs_repository_tenant_id'), 'vcs_repository', ['tenant_id'], unique=False)
    op.create_table('vcs_protected_branch',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('repository_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pattern', sa.String(length=255), nullable=False),
    sa.Column('allow_force_push', sa.Boolean(), nullable=False),
    sa.Column('allow_deletion', sa.Boolean(), nullable=False),
    sa.Column('push_roles', sa.JSON(), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['vcs_repository.id'], name=op.f('fk_vcs_protected_branch_repository_id_vcs_repository'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_protected_branch')),
    sa.UniqueConstraint('repository_id', 'pattern', name=op.f('uq_vcs_protected_branch_repository_id_pattern'))
    )
    op.create_index(op.f('ix_vcs_protected_branch_repository_id'), 'vcs_protected_branch', ['repository_id'], unique=False)
    op.create_table('vcs_push',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('repository_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('ref', sa.String(length=255), nullable=False),
    sa.Column('before', sa.String(length=64), nullable=False),
    sa.Column('after', sa.String(length=64), nullable=False),
    sa.Column('pusher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('commit_count', sa.Integer(), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['vcs_repository.id'], name=op.f('fk_vcs_push_repository_id_vcs_repository'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_push')),
    sa.UniqueConstraint('repository_id', 'key', name=op.f('uq_vcs_push_repository_id_key'))
    )
    op.create_index(op.f('ix_vcs_push_created_at'), 'vcs_push', ['created_at'], unique=False)
    op.create_index(op.f('ix_vcs_push_repository_id'), 'vcs_push', ['repository_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_vcs_push_repository_id'), table_name='vcs_push')
    op.drop_index(op.f('ix_vcs_push_created_at'), table_name='vcs_push')
    op.drop_table('vcs_push')
    op.drop_index(op.f('ix_vcs_protected_branch_repository_id'), table_name='vcs_protected_branch')
    op.drop_table('vcs_protected_branch')
    op.drop_index(op.f('ix_vcs_repository_tenant_id'), table_name='vcs_repository')
    op.drop_index(op.f('ix_vcs_repository_deleted_at'), table_name='vcs_repository')
    op.drop_table('vcs_repository')
