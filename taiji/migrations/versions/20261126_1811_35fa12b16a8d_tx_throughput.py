"""TX: engine throughput and operator views

Revision ID: 35fa12b16a8d
Revises: ac42b43dd073
Created: 2026-11-26 18:11:00
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = '35fa12b16a8d'
down_revision = 'ac42b43dd073'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
