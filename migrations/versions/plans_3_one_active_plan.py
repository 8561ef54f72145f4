"""one active plan per citizen: a partial unique index on plans(citizen_id)

Revision ID: plans_3
Revises: retention_2
Create Date: 2026-11-27 10:00:00

The plans service checks for an active plan before it starts one, but two starts at
once (a double POST on PostgreSQL, or the citizen and a caseworker together) both
saw none. The index lets the second fail instead, and the service answers it as
"there is already a plan". Both backends support partial indexes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "plans_3"
down_revision = "retention_2"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    twice = op.get_bind().execute(sa.text(
        "SELECT citizen_id FROM plans WHERE status = 'active' GROUP BY citizen_id HAVING COUNT(*) > 1"
    )).scalars().all()
    if twice:
        # Not resolved here: which plan to keep is the citizen's and the lead's call.
        raise RuntimeError(f"users {sorted(twice)} each have more than one active plan: "
                           "close all but one of each, then upgrade again")
    op.create_index("uq_plans_one_active_per_citizen", "plans", ["citizen_id"], unique=True,
                    postgresql_where=ACTIVE, sqlite_where=ACTIVE)


def downgrade() -> None:
    op.drop_index("uq_plans_one_active_per_citizen", table_name="plans")
