"""CI: pipelines, jobs, logs, artifacts, secrets

Revision ID: db05d49f911c
Revises: 6d7fe8b22544
Created: 2026-11-26 18:14:00
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = 'db05d49f911c'
down_revision = '6d7fe8b22544'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cicd_pipeline',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('repository', sa.String(length=100), nullable=False),
    sa.Column('repository_id', sa.String(length=64), nullable=True),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=255), nullable=False),
    sa.Column('sha', sa.String(length=64), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=255), nullable=True),
    sa.Column('retry_of_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by_email', sa.String(length=255), nullable=True),
    sa.Column('started_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_cicd_pipeline_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cicd_pipeline')),
    sa.UniqueConstraint('tenant_id', 'dedupe_key', name=op.f('uq_cicd_pipeline_tenant_id_dedupe_key')),
    sa.UniqueConstraint('tenant_id', 'repository', 'number', name=op.f('uq_cicd_pipeline_tenant_id_repository_number'))
    )
    op.create_index(op.f('ix_cicd_pipeline_tenant_id'), 'cicd_pipeline', ['tenant_id'], unique=False)
    op.create_index('ix_cicd_pipeline_tenant_status', 'cicd_pipeline', ['tenant_id', 'status'], unique=False)
    op.create_table('cicd_schedule',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('repository', sa.String(length=100), nullable=False),
    sa.Column('ref', sa.String(length=255), nullable=False),
    sa.Column('cron', sa.String(length=100), nullable=False),
    sa.Column('next_run_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_run_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_pipeline_id', sa.Integer(), nullable=True),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_cicd_schedule_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cicd_schedule')),
    sa.UniqueConstraint('tenant_id', 'repository', 'ref', 'cron', name=op.f('uq_cicd_schedule_tenant_id_repository_ref_cron'))
    )
    op.create_index(op.f('ix_cicd_schedule_next_run_at'), 'cicd_schedule', ['next_run_at'], unique=False)
    op.create_index(op.f('ix_cicd_schedule_tenant_id'), 'cicd_schedule', ['tenant_id'], unique=False)
    op.create_table('cicd_secret',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('repository', sa.String(length=100), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('updated_by_email', sa.String(length=255), nullable=True),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_cicd_secret_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cicd_secret')),
    sa.UniqueConstraint('tenant_id', 'repository', 'name', name=op.f('uq_cicd_secret_tenant_id_repository_name'))
    )
    op.create_index(op.f('ix_cicd_secret_tenant_id'), 'cicd_secret', ['tenant_id'], unique=False)
    op.create_table('cicd_job',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pipeline_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('needs', sa.JSON(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('failure_reason', sa.String(length=20), nullable=True),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('allow_failure', sa.Boolean(), nullable=False),
    sa.Column('when', sa.String(length=20), nullable=False),
    sa.Column('runner', sa.String(length=50), nullable=False),
    sa.Column('worker', sa.String(length=255), nullable=True),
    sa.Column('heartbeat_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('queued_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('log_size', sa.BigInteger(), nullable=False),
    sa.Column('log_seq', sa.Integer(), nullable=False),
    sa.Column('junit', sa.JSON(), nullable=True),
    sa.Column('played_by_email', sa.String(length=255), nullable=True),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pipeline_id'], ['cicd_pipeline.id'], name=op.f('fk_cicd_job_pipeline_id_cicd_pipeline'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_cicd_job_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cicd_job')),
    sa.UniqueConstraint('pipeline_id', 'name', name=op.f('uq_cicd_job_pipeline_id_name'))
    )
    op.create_index(op.f('ix_cicd_job_pipeline_id'), 'cicd_job', ['pipeline_id'], unique=False)
    op.create_index('ix_cicd_job_status_heartbeat', 'cicd_job', ['status', 'heartbeat_at'], unique=False)
    op.create_index(op.f('ix_cicd_job_tenant_id'), 'cicd_job', ['tenant_id'], unique=False)
    op.create_table('cicd_artifact',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published', sa.JSON(), nullable=True),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['cicd_job.id'], name=op.f('fk_cicd_artifact_job_id_cicd_job'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_cicd_artifact_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cicd_artifact')),
    sa.UniqueConstraint('job_id', 'path', name=op.f('uq_cicd_artifact_job_id_path'))
    )
    op.create_index(op.f('ix_cicd_artifact_expires_at'), 'cicd_artifact', ['expires_at'], unique=False)
    op.create_index(op.f('ix_cicd_artifact_job_id'), 'cicd_artifact', ['job_id'], unique=False)
    op.create_index(op.f('ix_cicd_artifact_tenant_id'), 'cicd_artifact', ['tenant_id'], unique=False)
    op.create_table('cicd_log_chunk',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['cicd_job.id'], name=op.f('fk_cicd_log_chunk_job_id_cicd_job'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cicd_log_chunk')),
    sa.UniqueConstraint('job_id', 'seq', name=op.f('uq_cicd_log_chunk_job_id_seq'))
    )
    op.create_index('ix_cicd_log_chunk_job_offset', 'cicd_log_chunk', ['job_id', 'offset'], unique=False)
    # ### end Alembic commands ###


def downgrade():
    op.drop_index('ix_cicd_log_chunk_job_offset', table_name='cicd_log_chunk')
    op.drop_table('cicd_log_chunk')
    op.drop_index(op.f('ix_cicd_artifact_tenant_id'), table_name='cicd_artifact')
    op.drop_index(op.f('ix_cicd_artifact_job_id'), table_name='cicd_artifact')
    op.drop_index(op.f('ix_cicd_artifact_expires_at'), table_name='cicd_artifact')
    op.drop_table('cicd_artifact')
    op.drop_index(op.f('ix_cicd_job_tenant_id'), table_name='cicd_job')
    op.drop_index('ix_cicd_job_status_heartbeat', table_name='cicd_job')
    op.drop_index(op.f('ix_cicd_job_pipeline_id'), table_name='cicd_job')
    op.drop_table('cicd_job')
    op.drop_index(op.f('ix_cicd_secret_tenant_id'), table_name='cicd_secret')
    op.drop_table('cicd_secret')
    op.drop_index(op.f('ix_cicd_schedule_tenant_id'), table_name='cicd_schedule')
    op.drop_index(op.f('ix_cicd_schedule_next_run_at'), table_name='cicd_schedule')
    op.drop_table('cicd_schedule')
    op.drop_index('ix_cicd_pipeline_tenant_status', table_name='cicd_pipeline')
    op.drop_index(op.f('ix_cicd_pipeline_tenant_id'), table_name='cicd_pipeline')
    op.drop_table('cicd_pipeline')
    # ### end Alembic commands ###
