"""retention marks what it has anonymised: requests.anonymised_at, plans.anonymised_at

Revision ID: retention_2
Revises: plans_2
Create Date: 2026-11-26 10:00:00

The retention job erases a request's or an ended plan's personal data once and sets
``anonymised_at``; later runs pass over it (no second audit row, no daily rescan of
everything ever closed). No backfill: requests anonymised before this migration have
no mark, so the next run completes them (attachments, handover reasons, event free
text) and records one ``retention.anonymise`` row each.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = "retention_2"
down_revision = "plans_2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("requests", "plans"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("anonymised_at", portal.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("plans", "requests"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("anonymised_at")
