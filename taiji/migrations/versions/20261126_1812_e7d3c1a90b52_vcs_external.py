"""VCS: external repositories, webhook deliveries, mirrors

Revision ID: e7d3c1a90b52
Revises: 75684e92228b
Created: 2026-11-26 18:12:30
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = 'e7d3c1a90b52'
down_revision = '75684e92228b'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
