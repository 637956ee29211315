"""BPR: binary repositories, files and Python packages

Revision ID: 6d7fe8b22544
Revises: e7d3c1a90b52
Created: 2026-11-26 18:13:00
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = '6d7fe8b22544'
down_revision = 'e7d3c1a90b52'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
