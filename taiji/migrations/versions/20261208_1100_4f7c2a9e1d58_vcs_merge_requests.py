"""VCS: merge requests (notes, approvals), commit statuses from pipelines, merge rules on protected branches

Revision ID: 4f7c2a9e1d58
Revises: 8e4b2d6f1a37
Created: 2026-12-08 11:00:00
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = '4f7c2a9e1d58'
down_revision = '8e4b2d6f1a37'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = taiji.platform.db.UTCDateTime(timezone=True)


def _fk(table, column, target, ondelete='CASCADE'):
    return sa.ForeignKeyConstraint([column], [f'{target}.id'],
                                   name=op.f(f'fk_{table}_{column}_{target}'), ondelete=ondelete)


def upgrade():
    with op.batch_alter_table('vcs_protected_branch') as batch:
        batch.add_column(sa.Column('required_approvals', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('approval_roles', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('reset_approvals_on_push', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.add_column(sa.Column('merge_methods', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('require_merge_request', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.add_column(sa.Column('require_green_pipeline', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
    op.execute(sa.text("UPDATE vcs_protected_branch SET approval_roles = '[]', merge_methods = '[]'"))
    with op.batch_alter_table('vcs_protected_branch') as batch:
        batch.alter_column('approval_roles', existing_type=sa.JSON(), nullable=False)
        batch.alter_column('merge_methods', existing_type=sa.JSON(), nullable=False)

    op.create_table(
        'vcs_commit_status',
        sa.Column('id', BIGINT, nullable=False),
        sa.Column('repository_id', BIGINT, nullable=False),
        sa.Column('sha', sa.String(length=64), nullable=False),
        sa.Column('pipeline_id', BIGINT, nullable=False),
        sa.Column('pipeline_number', BIGINT, nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('ref', sa.String(length=255), nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.Column('tenant_id', BIGINT, nullable=False),
        _fk('vcs_commit_status', 'repository_id', 'vcs_repository'),
        _fk('vcs_commit_status', 'tenant_id', 'kernel_tenant'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_commit_status')),
        sa.UniqueConstraint('repository_id', 'sha', name=op.f('uq_vcs_commit_status_repository_id_sha')),
    )
    op.create_index(op.f('ix_vcs_commit_status_repository_id'), 'vcs_commit_status', ['repository_id'])
    op.create_index(op.f('ix_vcs_commit_status_tenant_id'), 'vcs_commit_status', ['tenant_id'])

    op.create_table(
        'vcs_merge_request',
        sa.Column('id', BIGINT, nullable=False),
        sa.Column('repository_id', BIGINT, nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('source_branch', sa.String(length=255), nullable=False),
        sa.Column('target_branch', sa.String(length=255), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('draft', sa.Boolean(), nullable=False),
        sa.Column('author_id', BIGINT, nullable=True),
        sa.Column('author_name', sa.String(length=255), nullable=False),
        sa.Column('head_sha', sa.String(length=64), nullable=True),
        sa.Column('base_sha', sa.String(length=64), nullable=True),
        sa.Column('merge_sha', sa.String(length=64), nullable=True),
        sa.Column('merge_method', sa.String(length=20), nullable=True),
        sa.Column('merged_by', sa.String(length=255), nullable=True),
        sa.Column('merged_at', WHEN, nullable=True),
        sa.Column('closed_at', WHEN, nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('tenant_id', BIGINT, nullable=False),
        _fk('vcs_merge_request', 'repository_id', 'vcs_repository'),
        _fk('vcs_merge_request', 'tenant_id', 'kernel_tenant'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_merge_request')),
        sa.UniqueConstraint('repository_id', 'number', name=op.f('uq_vcs_merge_request_repository_id_number')),
    )
    op.create_index(op.f('ix_vcs_merge_request_repository_id'), 'vcs_merge_request', ['repository_id'])
    op.create_index(op.f('ix_vcs_merge_request_state'), 'vcs_merge_request', ['state'])
    op.create_index(op.f('ix_vcs_merge_request_tenant_id'), 'vcs_merge_request', ['tenant_id'])

    op.create_table(
        'vcs_merge_request_note',
        sa.Column('id', BIGINT, nullable=False),
        sa.Column('merge_request_id', BIGINT, nullable=False),
        sa.Column('reply_to_id', BIGINT, nullable=True),
        sa.Column('author_id', BIGINT, nullable=True),
        sa.Column('author_name', sa.String(length=255), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('path', sa.String(length=1024), nullable=True),
        sa.Column('line', sa.Integer(), nullable=True),
        sa.Column('side', sa.String(length=3), nullable=True),
        sa.Column('commit_sha', sa.String(length=64), nullable=True),
        sa.Column('resolved', sa.Boolean(), nullable=False),
        sa.Column('resolved_by', sa.String(length=255), nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        _fk('vcs_merge_request_note', 'merge_request_id', 'vcs_merge_request'),
        _fk('vcs_merge_request_note', 'reply_to_id', 'vcs_merge_request_note'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_merge_request_note')),
    )
    op.create_index(op.f('ix_vcs_merge_request_note_merge_request_id'), 'vcs_merge_request_note',
                    ['merge_request_id'])
    op.create_index(op.f('ix_vcs_merge_request_note_reply_to_id'), 'vcs_merge_request_note', ['reply_to_id'])

    op.create_table(
        'vcs_merge_request_approval',
        sa.Column('id', BIGINT, nullable=False),
        sa.Column('merge_request_id', BIGINT, nullable=False),
        sa.Column('user_id', BIGINT, nullable=False),
        sa.Column('user_name', sa.String(length=255), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('sha', sa.String(length=64), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        _fk('vcs_merge_request_approval', 'merge_request_id', 'vcs_merge_request'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vcs_merge_request_approval')),
        sa.UniqueConstraint('merge_request_id', 'user_id',
                            name=op.f('uq_vcs_merge_request_approval_merge_request_id_user_id')),
    )
    op.create_index(op.f('ix_vcs_merge_request_approval_merge_request_id'), 'vcs_merge_request_approval',
                    ['merge_request_id'])


def downgrade():
    op.drop_table('vcs_merge_request_approval')
    op.drop_table('vcs_merge_request_note')
    op.drop_table('vcs_merge_request')
    op.drop_table('vcs_commit_status')
    with op.batch_alter_table('vcs_protected_branch') as batch:
        for column in ('require_green_pipeline', 'require_merge_request', 'merge_methods',
                       'reset_approvals_on_push', 'approval_roles', 'required_approvals'):
            batch.drop_column(column)
