"""IAM: resource servers (introspection flag, RFC 8707 resource indicator), grants' resources,
and whether the platform vouches for a user's email (OpenID Connect email_verified)

Revision ID: 9c2d5e8a1f47
Revises: 4b7e91c2d0a3
Created: 2026-12-06 11:00:00
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = '9c2d5e8a1f47'
down_revision = '4b7e91c2d0a3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('iam_oauth_client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('can_introspect', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('resource', sa.String(length=2000), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_iam_oauth_client_resource'), ['resource'])
    with op.batch_alter_table('iam_oauth_code', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resources', sa.JSON(), nullable=True))
    with op.batch_alter_table('iam_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', taiji.platform.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('iam_user', schema=None) as batch_op:
        batch_op.drop_column('email_verified_at')
    with op.batch_alter_table('iam_oauth_code', schema=None) as batch_op:
        batch_op.drop_column('resources')
    with op.batch_alter_table('iam_oauth_client', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_iam_oauth_client_resource'), type_='unique')
        batch_op.drop_column('resource')
        batch_op.drop_column('can_introspect')
