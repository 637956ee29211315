"""IAM sign-in: email domains of directories, sign-in throttles per client, emailed sign-in links

Revision ID: 5d2b8e41c7a3
Revises: 9c2d5e8a1f47
Created: 2026-12-06 00:37:08
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db


revision = '5d2b8e41c7a3'
down_revision = '9c2d5e8a1f47'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('iam_directory_domain',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('verified_domain', sa.String(length=253), nullable=True),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=True),
    sa.Column('verified_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verified_by', sa.String(length=255), nullable=True),
    sa.Column('checked_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['kernel_tenant.id'], name=op.f('fk_iam_directory_domain_tenant_id_kernel_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_directory_domain')),
    sa.UniqueConstraint('tenant_id', 'domain', name=op.f('uq_iam_directory_domain_tenant_id_domain')),
    sa.UniqueConstraint('verified_domain', name=op.f('uq_iam_directory_domain_verified_domain'))
    )
    with op.batch_alter_table('iam_directory_domain', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_directory_domain_domain'), ['domain'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_directory_domain_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('iam_sign_in_link',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['iam_user.id'], name=op.f('fk_iam_sign_in_link_user_id_iam_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_sign_in_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_iam_sign_in_link_token_hash'))
    )
    with op.batch_alter_table('iam_sign_in_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_sign_in_link_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('iam_directory', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ca_certificate', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('iam_sign_in_lock', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client', sa.String(length=100), server_default='*', nullable=False))
        batch_op.drop_constraint(batch_op.f('uq_iam_sign_in_lock_email'), type_='unique')
        batch_op.create_index(batch_op.f('ix_iam_sign_in_lock_email'), ['email'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_iam_sign_in_lock_email_client'), ['email', 'client'])


def downgrade():
    # One row per email again: the account-wide rows stay, the per-client ones go.
    op.execute("DELETE FROM iam_sign_in_lock WHERE client <> '*'")
    with op.batch_alter_table('iam_sign_in_lock', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_iam_sign_in_lock_email_client'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_iam_sign_in_lock_email'))
        batch_op.create_unique_constraint(batch_op.f('uq_iam_sign_in_lock_email'), ['email'])
        batch_op.drop_column('client')

    with op.batch_alter_table('iam_directory', schema=None) as batch_op:
        batch_op.drop_column('ca_certificate')

    with op.batch_alter_table('iam_sign_in_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_sign_in_link_user_id'))

    op.drop_table('iam_sign_in_link')
    with op.batch_alter_table('iam_directory_domain', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_directory_domain_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_iam_directory_domain_domain'))

    op.drop_table('iam_directory_domain')
