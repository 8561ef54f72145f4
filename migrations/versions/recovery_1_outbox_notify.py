"""outbox rows wake the relay: a statement trigger NOTIFYs indgang_outbox (PostgreSQL)

Revision ID: recovery_1
Revises: citizen_1
Create Date: 2026-12-03 16:00:00

The relay polled the outbox once a second, most of the wait between a filing's answer
and its case (issue 20). NOTIFY is transactional: the relay hears of a row only when
the transaction that added it commits, and several notices of one transaction come as
one. Once per statement, so a filing pays one call of a tiny function and no round
trip. SQLite has no NOTIFY; the relay polls there.
"""

from __future__ import annotations

from alembic import op

revision = "recovery_1"
down_revision = "citizen_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('indgang_outbox', '');
            RETURN NULL;
        END
        $$
    """)
    op.execute("CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
               "FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify()")
