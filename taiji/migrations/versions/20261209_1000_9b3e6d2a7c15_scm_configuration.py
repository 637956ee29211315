"""SCM: configuration items in layers, numbered releases with snapshots, environment policies,
components with their schemas, access keys, instances, history

Revision ID: 9b3e6d2a7c15
Revises: 4f7c2a9e1d58
Created: 2026-12-09 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = '9b3e6d2a7c15'
down_revision = '4f7c2a9e1d58'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = taiji.platform.db.UTCDateTime(timezone=True)
TABLES = ('scm_access_key', 'scm_component', 'scm_history', 'scm_instance', 'scm_item', 'scm_policy',
          'scm_release')


def _id():
    return sa.Column('id', BIGINT, nullable=False)


def _tenant(table):
    return [
        sa.Column('tenant_id', BIGINT, nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'],
                                name=op.f(f'fk_{table}_tenant_id_kernel_tenant'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}')),
    ]


def upgrade():
    op.create_table(
        'scm_access_key', _id(),
        sa.Column('environment', sa.String(length=32), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('created_by', sa.String(length=255), nullable=False),
        sa.Column('last_used_at', WHEN, nullable=True),
        sa.Column('revoked_at', WHEN, nullable=True),
        *_tenant('scm_access_key'),
        sa.UniqueConstraint('token_hash', name=op.f('uq_scm_access_key_token_hash')),
    )
    op.create_table(
        'scm_component', _id(),
        sa.Column('component_id', sa.BigInteger(), nullable=False),
        sa.Column('product_id', sa.BigInteger(), nullable=False),
        sa.Column('name', sa.String(length=63), nullable=False),
        sa.Column('product', sa.String(length=63), nullable=False),
        sa.Column('json_schema', sa.JSON(), nullable=True),
        sa.Column('schema_updated_at', WHEN, nullable=True),
        sa.Column('schema_updated_by', sa.String(length=255), nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        *_tenant('scm_component'),
        sa.UniqueConstraint('tenant_id', 'component_id', name=op.f('uq_scm_component_tenant_id_component_id')),
    )
    op.create_table(
        'scm_history', _id(),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('actor', sa.String(length=255), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('layer', sa.String(length=20), nullable=False),
        sa.Column('scope_id', sa.BigInteger(), nullable=False),
        sa.Column('environment', sa.String(length=32), nullable=False),
        sa.Column('selector', sa.String(length=255), nullable=False),
        sa.Column('namespace', sa.String(length=63), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('secret', sa.Boolean(), nullable=False),
        sa.Column('old_value', sa.Text(), nullable=True),
        sa.Column('new_value', sa.Text(), nullable=True),
        sa.Column('release_number', sa.Integer(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        *_tenant('scm_history'),
    )
    op.create_index('ix_scm_history_scope', 'scm_history', ['tenant_id', 'scope_id', 'environment', 'id'])
    op.create_table(
        'scm_instance', _id(),
        sa.Column('component_id', sa.BigInteger(), nullable=False),
        sa.Column('environment', sa.String(length=32), nullable=False),
        sa.Column('instance', sa.String(length=100), nullable=False),
        sa.Column('labels', sa.JSON(), nullable=False),
        sa.Column('release_number', sa.Integer(), nullable=True),
        sa.Column('first_seen', WHEN, nullable=False),
        sa.Column('last_seen', WHEN, nullable=False),
        *_tenant('scm_instance'),
        sa.UniqueConstraint('tenant_id', 'component_id', 'environment', 'instance',
                            name=op.f('uq_scm_instance_tenant_id_component_id_environment_instance')),
    )
    op.create_table(
        'scm_item', _id(),
        sa.Column('layer', sa.String(length=20), nullable=False),
        sa.Column('scope_id', sa.BigInteger(), nullable=False),
        sa.Column('environment', sa.String(length=32), nullable=False),
        sa.Column('selector', sa.String(length=255), nullable=False),
        sa.Column('namespace', sa.String(length=63), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('type', sa.String(length=10), nullable=False),
        sa.Column('value', sa.Text(), nullable=True),
        sa.Column('sealed', sa.Text(), nullable=True),
        sa.Column('secret', sa.Boolean(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('updated_by', sa.String(length=255), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        *_tenant('scm_item'),
        sa.UniqueConstraint('tenant_id', 'layer', 'scope_id', 'environment', 'selector', 'namespace', 'key',
                            name=op.f('uq_scm_item_scope_key')),
    )
    op.create_index('ix_scm_item_scope', 'scm_item', ['tenant_id', 'scope_id', 'environment'])
    op.create_table(
        'scm_policy', _id(),
        sa.Column('environment', sa.String(length=32), nullable=False),
        sa.Column('four_eyes', sa.Boolean(), nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.Column('updated_by', sa.String(length=255), nullable=False),
        *_tenant('scm_policy'),
        sa.UniqueConstraint('tenant_id', 'environment', name=op.f('uq_scm_policy_tenant_id_environment')),
    )
    op.create_table(
        'scm_release', _id(),
        sa.Column('component_id', sa.BigInteger(), nullable=False),
        sa.Column('product_id', sa.BigInteger(), nullable=False),
        sa.Column('component', sa.String(length=63), nullable=False),
        sa.Column('product', sa.String(length=63), nullable=False),
        sa.Column('environment', sa.String(length=32), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('author_id', sa.BigInteger(), nullable=True),
        sa.Column('author', sa.String(length=255), nullable=False),
        sa.Column('reviewer', sa.String(length=255), nullable=True),
        sa.Column('gray_selector', sa.String(length=500), nullable=True),
        sa.Column('gray_percentage', sa.Float(), nullable=True),
        sa.Column('rolled_back_from', sa.Integer(), nullable=True),
        sa.Column('snapshot', sa.JSON(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('published_at', WHEN, nullable=True),
        sa.Column('closed_at', WHEN, nullable=True),
        *_tenant('scm_release'),
        sa.UniqueConstraint('tenant_id', 'component_id', 'environment', 'number',
                            name=op.f('uq_scm_release_tenant_id_component_id_environment_number')),
    )
    op.create_index('ix_scm_release_status', 'scm_release', ['tenant_id', 'component_id', 'environment', 'status'])
    for table in TABLES:
        op.create_index(op.f(f'ix_{table}_tenant_id'), table, ['tenant_id'])


def downgrade():
    for table in reversed(TABLES):
        op.drop_table(table)
