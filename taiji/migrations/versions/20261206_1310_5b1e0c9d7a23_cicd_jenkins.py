"""CICD: Jenkins controllers, the builds Taiji follows on them, each repository's default runner

Revision ID: 5b1e0c9d7a23
Revises: 31486e71a897
Created: 2026-12-06 13:00:00
"""

import sqlalchemy as sa
from alembic import op

from taiji.platform.db import UTCDateTime

revision = '5b1e0c9d7a23'
down_revision = '31486e71a897'
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'cicd_jenkins_controller',
        sa.Column('id', _id, nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=False),
        sa.Column('username', sa.String(length=200), nullable=False),
        sa.Column('sealed_token', sa.Text(), nullable=False),
        sa.Column('is_default', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('description', sa.String(length=500), nullable=False),
        sa.Column('updated_by_email', sa.String(length=255), nullable=True),
        sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'name'),
    )
    with op.batch_alter_table('cicd_jenkins_controller', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cicd_jenkins_controller_tenant_id'), ['tenant_id'], unique=False)

    op.create_table(
        'cicd_jenkins_build',
        sa.Column('id', _id, nullable=False),
        sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('controller_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('controller_name', sa.String(length=100), nullable=False),
        sa.Column('item', sa.String(length=255), nullable=False),
        sa.Column('queue_id', sa.BigInteger(), nullable=True),
        sa.Column('number', sa.Integer(), nullable=True),
        sa.Column('url', sa.String(length=1000), nullable=True),
        sa.Column('log_offset', sa.BigInteger(), nullable=False),
        sa.Column('result', sa.String(length=20), nullable=True),
        sa.Column('waiting_why', sa.String(length=500), nullable=True),
        sa.Column('done', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_contact_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('unreachable_since', UTCDateTime(timezone=True), nullable=True),
        sa.Column('lease_until', UTCDateTime(timezone=True), nullable=True),
        sa.Column('held_sealed', sa.Text(), nullable=True),
        sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['cicd_job.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['controller_id'], ['cicd_jenkins_controller.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('job_id', 'attempt'),
    )
    with op.batch_alter_table('cicd_jenkins_build', schema=None) as batch_op:
        batch_op.create_index('ix_cicd_jenkins_build_open', ['done', 'job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cicd_jenkins_build_controller_id'), ['controller_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cicd_jenkins_build_tenant_id'), ['tenant_id'], unique=False)

    op.create_table(
        'cicd_repository_settings',
        sa.Column('id', _id, nullable=False),
        sa.Column('repository', sa.String(length=100), nullable=False),
        sa.Column('default_runner', sa.String(length=50), nullable=True),
        sa.Column('jenkins_controller', sa.String(length=100), nullable=True),
        sa.Column('updated_by_email', sa.String(length=255), nullable=True),
        sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'repository'),
    )
    with op.batch_alter_table('cicd_repository_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cicd_repository_settings_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    op.drop_table('cicd_repository_settings')
    op.drop_table('cicd_jenkins_build')
    op.drop_table('cicd_jenkins_controller')
