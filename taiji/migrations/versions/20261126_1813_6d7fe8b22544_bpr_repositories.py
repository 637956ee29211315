"""BPR: binary repositories, files and Python packages

Revision ID: 6d7fe8b22544
Revises: e7d3c1a90b52
Created: 2026-11-26 18:13:00
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = '6d7fe8b22544'
down_revision = 'e7d3c1a90b52'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bpr_repository',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('immutable', sa.Boolean(), nullable=False),
    sa.Column('visibility', sa.String(length=20), nullable=False),
    sa.Column('keep_last', sa.Integer(), nullable=True),
    sa.Column('max_age_days', sa.Integer(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('file_count', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_bpr_repository_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bpr_repository')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_bpr_repository_tenant_id_name'))
    )
    with op.batch_alter_table('bpr_repository', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bpr_repository_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('bpr_file',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('repository_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('package', sa.String(length=200), nullable=True),
    sa.Column('version', sa.String(length=100), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('blake2_256', sa.String(length=64), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('uploaded_by', sa.String(length=255), nullable=True),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('yanked', sa.Boolean(), nullable=False),
    sa.Column('yank_reason', sa.Text(), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['bpr_repository.id'], name=op.f('fk_bpr_file_repository_id_bpr_repository'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_bpr_file_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bpr_file')),
    sa.UniqueConstraint('repository_id', 'path', name=op.f('uq_bpr_file_repository_id_path'))
    )
    with op.batch_alter_table('bpr_file', schema=None) as batch_op:
        batch_op.create_index('ix_bpr_file_repository_package', ['repository_id', 'package'], unique=False)
        batch_op.create_index(batch_op.f('ix_bpr_file_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_bpr_file_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('bpr_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bpr_file_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_bpr_file_sha256'))
        batch_op.drop_index('ix_bpr_file_repository_package')

    op.drop_table('bpr_file')
    with op.batch_alter_table('bpr_repository', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bpr_repository_tenant_id'))

    op.drop_table('bpr_repository')
