"""Authorities carry contact details for citizens: address, phone, opening hours, web site.

Revision ID: citizen_1
Revises: stats_2
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "citizen_1"
down_revision = "stats_2"
branch_labels = None
depends_on = None

COLUMNS = (("address", 300), ("phone", 40), ("opening_hours", 300), ("website", 300))


# Plain ALTER TABLE, not batch mode: SQLite's copy-and-rename would drop a table that
# other tables' foreign keys point at. SQLite has ADD and DROP COLUMN since 3.35.


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column("authorities", sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    for name, _length in reversed(COLUMNS):
        op.drop_column("authorities", name)
