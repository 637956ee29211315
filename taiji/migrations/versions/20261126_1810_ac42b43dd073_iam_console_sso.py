"""IAM: console single sign-on, remembered consent

Revision ID: ac42b43dd073
Revises: 35ab2b47cdc3
Created: 2026-11-26 18:10:00
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = 'ac42b43dd073'
down_revision = '35ab2b47cdc3'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
