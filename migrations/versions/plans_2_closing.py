"""plans can be closed: when, by whom, why

Revision ID: plans_2
Revises: audit_1
Create Date: 2026-11-25 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = "plans_2"
down_revision = "audit_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("closed_at", portal.models.base.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("closed_reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("closed_note", sa.Text(), nullable=True))
        batch.create_foreign_key(batch.f("fk_plans_closed_by_id_users"), "users", ["closed_by_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.drop_constraint(batch.f("fk_plans_closed_by_id_users"), type_="foreignkey")
        batch.drop_column("closed_note")
        batch.drop_column("closed_reason")
        batch.drop_column("closed_by_id")
        batch.drop_column("closed_at")
