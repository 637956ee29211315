"""IAM: console single sign-on, remembered consent

Revision ID: ac42b43dd073
Revises: 35ab2b47cdc3
Created: 2026-11-26 18:10:00
"""

import datetime

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = 'ac42b43dd073'
down_revision = '35ab2b47cdc3'
branch_labels = None
depends_on = None


CONSOLE_CLIENT_ID = "taiji-console"


def upgrade():
    op.create_table('iam_oauth_consent',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scope', sa.String(length=2000), nullable=False),
    sa.Column('granted_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_pk'], ['iam_oauth_client.id'],
                            name=op.f('fk_iam_oauth_consent_client_pk_iam_oauth_client'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['iam_user.id'],
                            name=op.f('fk_iam_oauth_consent_user_id_iam_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iam_oauth_consent')),
    sa.UniqueConstraint('user_id', 'client_pk', name='uq_iam_oauth_consent_user_client')
    )
    with op.batch_alter_table('iam_oauth_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_iam_oauth_consent_client_pk'), ['client_pk'], unique=False)

    with op.batch_alter_table('iam_console_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), server_default='idp', nullable=False))
        batch_op.add_column(sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_iam_console_session_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_iam_console_session_parent_id_iam_console_session'),
                                    'iam_console_session', ['parent_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('iam_oauth_client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False))

    # The console is a first-party client of the platform's own provider: public (PKCE), trusted
    # (no consent page). Its redirect URIs follow TAIJI_BASE_URL and are filled in at first sign-in.
    client = sa.table(
        'iam_oauth_client',
        sa.column('client_id', sa.String), sa.column('name', sa.String), sa.column('is_public', sa.Boolean),
        sa.column('trusted', sa.Boolean), sa.column('redirect_uris', sa.JSON),
        sa.column('post_logout_redirect_uris', sa.JSON), sa.column('grant_types', sa.JSON),
        sa.column('scope', sa.String), sa.column('created_at', taiji.platform.db.UTCDateTime(timezone=True)),
        sa.column('updated_at', taiji.platform.db.UTCDateTime(timezone=True)),
    )
    now = datetime.datetime.now(datetime.UTC)
    op.bulk_insert(client, [{
        'client_id': CONSOLE_CLIENT_ID, 'name': 'Taiji console', 'is_public': True, 'trusted': True,
        'redirect_uris': [], 'post_logout_redirect_uris': [], 'grant_types': ['authorization_code'],
        'scope': 'openid profile email', 'created_at': now, 'updated_at': now,
    }])


def downgrade():
    op.execute(sa.text("DELETE FROM iam_oauth_client WHERE client_id = :c").bindparams(c=CONSOLE_CLIENT_ID))
    with op.batch_alter_table('iam_oauth_client', schema=None) as batch_op:
        batch_op.drop_column('enabled')
    with op.batch_alter_table('iam_console_session', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_iam_console_session_parent_id_iam_console_session'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_iam_console_session_parent_id'))
        batch_op.drop_column('parent_id')
        batch_op.drop_column('kind')

    with op.batch_alter_table('iam_oauth_consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_iam_oauth_consent_client_pk'))

    op.drop_table('iam_oauth_consent')
