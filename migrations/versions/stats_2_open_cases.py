"""statistics: one row per open case for the dashboard's backlog and stuck cases

Revision ID: stats_2
Revises: plans_3
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "stats_2"
down_revision = "plans_3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_open_cases",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("authority_id", sa.String(length=64), nullable=False),
        sa.Column("region_id", sa.String(length=64), nullable=True),
        sa.Column("service_type", sa.String(length=64), nullable=False),
        sa.Column("target_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_stats_open_cases")),
    )
    op.create_index(op.f("ix_stats_open_cases_request_id"), "stats_open_cases", ["request_id"])
    op.create_index("ix_stats_open_cases_target_on", "stats_open_cases", ["target_on", "case_id"])
    # Filled from the facts already there; the next refresh keeps it current.
    op.execute(
        """
        INSERT INTO stats_open_cases (case_id, request_id, reference, status, filed_on, authority_id, region_id,
                                      service_type, target_on)
        SELECT f.case_id, f.request_id, c.reference, c.status, f.filed_on, f.authority_id, f.region_id,
               f.service_type, f.target_on
        FROM stats_case_facts f JOIN cases c ON c.id = f.case_id
        WHERE f.is_open = true
        """
    )


def downgrade() -> None:
    op.drop_index("ix_stats_open_cases_target_on", table_name="stats_open_cases")
    op.drop_index(op.f("ix_stats_open_cases_request_id"), table_name="stats_open_cases")
    op.drop_table("stats_open_cases")
