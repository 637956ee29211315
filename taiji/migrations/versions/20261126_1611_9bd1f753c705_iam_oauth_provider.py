"""IAM OpenID Connect provider: clients, grants (codes), refresh tokens, signing keys

Revision ID: 9bd1f753c705
Revises: e12c7192b84a
Created: 2026-11-26 16:11:05.893070
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = '9bd1f753c705'
down_revision = 'e12c7192b84a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('iam_signing_key',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('alg', sa.String(length=10), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('private_key_encrypted', sa.Text(), nullable=False),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('activates_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_signing_key')),
    sa.UniqueConstraint('kid', name=op.f('uq_iam_signing_key_kid'))
    )
    with op.batch_alter_table('iam_signing_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_signing_key_activates_at'), ['activates_at'], unique=False)

    op.create_table('iam_oauth_client',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('secret_prefix', sa.String(length=16), nullable=True),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('trusted', sa.Boolean(), nullable=False),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('post_logout_redirect_uris', sa.JSON(), nullable=False),
    sa.Column('grant_types', sa.JSON(), nullable=False),
    sa.Column('scope', sa.String(length=2000), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['iam_user.id'], name=op.f('fk_iam_oauth_client_created_by_id_iam_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_oauth_client')),
    sa.UniqueConstraint('client_id', name=op.f('uq_iam_oauth_client_client_id'))
    )

    op.create_table('iam_oauth_code',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=False),
    sa.Column('client_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('redirect_uri', sa.String(length=2000), nullable=True),
    sa.Column('scope', sa.String(length=2000), nullable=False),
    sa.Column('nonce', sa.String(length=255), nullable=True),
    sa.Column('code_challenge', sa.String(length=128), nullable=True),
    sa.Column('code_challenge_method', sa.String(length=10), nullable=True),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('auth_time', sa.BigInteger(), nullable=True),
    sa.Column('created_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_pk'], ['iam_oauth_client.id'], name=op.f('fk_iam_oauth_code_client_pk_iam_oauth_client'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['iam_user.id'], name=op.f('fk_iam_oauth_code_user_id_iam_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_oauth_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_iam_oauth_code_code_hash')),
    sa.UniqueConstraint('family', name=op.f('uq_iam_oauth_code_family'))
    )
    with op.batch_alter_table('iam_oauth_code', schema=None) as batch_op:
        batch_op.create_index('ix_iam_oauth_code_client_nonce', ['client_pk', 'nonce'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_oauth_code_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_oauth_code_user_id'), ['user_id'], unique=False)

    op.create_table('iam_oauth_token',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('refresh', 'access', name='tokenkind', native_enum=False, length=10), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=True),
    sa.Column('client_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('scope', sa.String(length=2000), nullable=False),
    sa.Column('user_epoch', sa.Integer(), nullable=False),
    sa.Column('issued_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_pk'], ['iam_oauth_client.id'], name=op.f('fk_iam_oauth_token_client_pk_iam_oauth_client'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['iam_user.id'], name=op.f('fk_iam_oauth_token_user_id_iam_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_oauth_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_iam_oauth_token_token_hash'))
    )
    with op.batch_alter_table('iam_oauth_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_oauth_token_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_oauth_token_family'), ['family'], unique=False)
        batch_op.create_index(batch_op.f('ix_iam_oauth_token_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('iam_oauth_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_oauth_token_user_id'))
        batch_op.drop_index(batch_op.f('ix_iam_oauth_token_family'))
        batch_op.drop_index(batch_op.f('ix_iam_oauth_token_expires_at'))

    op.drop_table('iam_oauth_token')
    with op.batch_alter_table('iam_oauth_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_oauth_code_user_id'))
        batch_op.drop_index(batch_op.f('ix_iam_oauth_code_session_id'))
        batch_op.drop_index('ix_iam_oauth_code_client_nonce')

    op.drop_table('iam_oauth_code')

    op.drop_table('iam_oauth_client')
    with op.batch_alter_table('iam_signing_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_signing_key_activates_at'))

    op.drop_table('iam_signing_key')
