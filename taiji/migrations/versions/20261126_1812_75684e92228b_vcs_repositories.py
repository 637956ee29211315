"""VCS: hosted repositories, protected branches, pushes

Revision ID: 75684e92228b
Revises: 35fa12b16a8d
Created: 2026-11-26 18:12:00
"""

from alembic import op
import sqlalchemy as sa
import taiji.platform.db


revision = '75684e92228b'
down_revision = '35fa12b16a8d'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
