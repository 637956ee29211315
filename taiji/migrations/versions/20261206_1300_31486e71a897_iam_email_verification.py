"""IAM and TM: emailed links that verify an address, and how an invitation's link was delivered

Revision ID: 31486e71a897
Revises: 3c9e5a7d1f42
Created: 2026-12-06 13:00:00

Existing invitations keep delivery "link": their link was shown to the inviter, so registering
through one proves nothing about the mailbox. Existing accounts keep their verified flag as it
is; an account that is not verified verifies its address by mail (or a platform administrator
marks it) before it can accept another invitation.
"""

import sqlalchemy as sa
from alembic import op

revision = '31486e71a897'
down_revision = '3c9e5a7d1f42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('iam_sign_in_link', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=20), server_default='sign-in', nullable=False))
        batch_op.add_column(sa.Column('email', sa.String(length=255), nullable=True))
    with op.batch_alter_table('tm_invitation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery', sa.String(length=10), server_default='link', nullable=False))


def downgrade():
    with op.batch_alter_table('tm_invitation', schema=None) as batch_op:
        batch_op.drop_column('delivery')
    with op.batch_alter_table('iam_sign_in_link', schema=None) as batch_op:
        batch_op.drop_column('email')
        batch_op.drop_column('purpose')
