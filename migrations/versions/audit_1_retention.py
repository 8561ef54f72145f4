"""audit log retention: rows older than a cutoff may be deleted, by the database's rules

Revision ID: audit_1
Revises: decide_1
Create Date: 2026-11-25 13:40:00

The audit log stays append-only for the application. Retention needs one exception:
rows older than ``audit_retention.delete_before`` may be deleted. The database enforces
it: a younger row cannot be deleted, the cutoff cannot move back, and it cannot be set
less than 180 days ago (the floor below which no configuration can go).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = "audit_1"
down_revision = "decide_1"
branch_labels = None
depends_on = None

FLOOR_DAYS = 180
APPEND_ONLY = "audit_log is append-only"


def upgrade() -> None:
    table = op.create_table(
        "audit_retention",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delete_before", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_retention_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_retention")),
    )
    from datetime import UTC, datetime

    op.bulk_insert(table, [{"id": 1, "delete_before": datetime(1970, 1, 1, tzinfo=UTC)}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'DELETE' AND OLD.at < (SELECT delete_before FROM audit_retention WHERE id = 1) THEN
                RETURN OLD;
              END IF;
              RAISE EXCEPTION '{APPEND_ONLY}';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"""
            CREATE FUNCTION audit_retention_guard() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'UPDATE' AND NEW.delete_before >= OLD.delete_before
                 AND NEW.delete_before <= now() - interval '{FLOOR_DAYS} days' THEN
                RETURN NEW;
              END IF;
              RAISE EXCEPTION 'audit_retention: the cutoff only moves forward, to at least {FLOOR_DAYS} days ago';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_retention_guard BEFORE UPDATE OR DELETE ON audit_retention "
            "FOR EACH ROW EXECUTE FUNCTION audit_retention_guard()"
        )
    else:
        op.execute("DROP TRIGGER audit_log_no_delete")
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "WHEN NOT (OLD.at < coalesce((SELECT delete_before FROM audit_retention WHERE id = 1), '')) "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_retention_no_update BEFORE UPDATE ON audit_retention "
            f"WHEN NEW.delete_before < OLD.delete_before OR NEW.delete_before > datetime('now', '-{FLOOR_DAYS} days') "
            f"BEGIN SELECT RAISE(ABORT, 'audit_retention: the cutoff only moves forward, to at least {FLOOR_DAYS} days ago'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_retention_no_delete BEFORE DELETE ON audit_retention "
            "BEGIN SELECT RAISE(ABORT, 'audit_retention cannot be deleted'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_retention_guard ON audit_retention")
        op.execute("DROP FUNCTION IF EXISTS audit_retention_guard()")
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION '{APPEND_ONLY}';
            END;
            $$ LANGUAGE plpgsql
            """
        )
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_retention_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_retention_no_delete")
        op.execute("DROP TRIGGER audit_log_no_delete")
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
    op.drop_table("audit_retention")
