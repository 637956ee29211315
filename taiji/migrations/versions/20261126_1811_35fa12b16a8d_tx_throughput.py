"""TX: engine throughput and operator views

Revision ID: 35fa12b16a8d
Revises: ac42b43dd073
Created: 2026-11-26 18:11:00
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = '35fa12b16a8d'
down_revision = 'ac42b43dd073'
branch_labels = None
depends_on = None


def upgrade():
    ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table('tx_notification_attempt',
    sa.Column('id', ID, nullable=False),
    sa.Column('notification_id', ID, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('planned_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_summary', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('acknowledged', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['tx_notification.id'],
                            name=op.f('fk_tx_notification_attempt_notification_id_tx_notification'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tx_notification_attempt'))
    )
    with op.batch_alter_table('tx_notification_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tx_notification_attempt_notification_id'), ['notification_id'],
                              unique=False)

    op.create_table('tx_message_check',
    sa.Column('id', ID, nullable=False),
    sa.Column('message_id', ID, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('at', taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('answer', sa.String(length=32), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['tx_message.id'],
                            name=op.f('fk_tx_message_check_message_id_tx_message'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tx_message_check'))
    )
    with op.batch_alter_table('tx_message_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tx_message_check_message_id'), ['message_id'], unique=False)

    # The console lists a tenant's notifications and messages newest first; a notification's
    # secret is stored sealed, longer than the clear value.
    with op.batch_alter_table('tx_notification', schema=None) as batch_op:
        batch_op.create_index('ix_tx_notification_tenant_created', ['tenant_id', 'created_at'], unique=False)
        batch_op.alter_column('secret', existing_type=sa.String(length=200), type_=sa.Text(),
                              existing_nullable=False)
    with op.batch_alter_table('tx_message', schema=None) as batch_op:
        batch_op.create_index('ix_tx_message_tenant_created', ['tenant_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('tx_message', schema=None) as batch_op:
        batch_op.drop_index('ix_tx_message_tenant_created')
    with op.batch_alter_table('tx_notification', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.Text(), type_=sa.String(length=200),
                              existing_nullable=False)
        batch_op.drop_index('ix_tx_notification_tenant_created')
    with op.batch_alter_table('tx_message_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tx_message_check_message_id'))
    op.drop_table('tx_message_check')
    with op.batch_alter_table('tx_notification_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tx_notification_attempt_notification_id'))
    op.drop_table('tx_notification_attempt')
