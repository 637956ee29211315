"""VCS: external repositories, webhook deliveries, mirrors

Revision ID: e7d3c1a90b52
Revises: 75684e92228b
Created: 2026-11-26 18:12:30
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = 'e7d3c1a90b52'
down_revision = '75684e92228b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('vcs_external_source',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('repository_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('hook_id', sa.String(length=40), nullable=False),
    sa.Column('webhook_secret', sa.Text(), nullable=False),
    sa.Column('mirror', sa.Boolean(), nullable=False),
    sa.Column('mirror_credentials', sa.Text(), nullable=True),
    sa.Column('mirror_interval_s', sa.Integer(), nullable=False),
    sa.Column('last_fetched_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['vcs_repository.id'], name=op.f('fk_vcs_external_source_repository_id_vcs_repository'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_vcs_external_source_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_external_source')),
    sa.UniqueConstraint('hook_id', name=op.f('uq_vcs_external_source_hook_id')),
    sa.UniqueConstraint('repository_id', name=op.f('uq_vcs_external_source_repository_id'))
    )
    with op.batch_alter_table('vcs_external_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vcs_external_source_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('vcs_webhook_delivery',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('delivery_id', sa.String(length=100), nullable=False),
    sa.Column('event', sa.String(length=50), nullable=False),
    sa.Column('received_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=50), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['vcs_external_source.id'], name=op.f('fk_vcs_webhook_delivery_source_id_vcs_external_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_webhook_delivery')),
    sa.UniqueConstraint('source_id', 'delivery_id', name=op.f('uq_vcs_webhook_delivery_source_id_delivery_id'))
    )
    with op.batch_alter_table('vcs_webhook_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vcs_webhook_delivery_source_id'), ['source_id'], unique=False)


def downgrade():
    with op.batch_alter_table('vcs_webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vcs_webhook_delivery_source_id'))

    op.drop_table('vcs_webhook_delivery')
    with op.batch_alter_table('vcs_external_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vcs_external_source_tenant_id'))

    op.drop_table('vcs_external_source')
