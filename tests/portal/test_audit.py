"""The audit log can be added to, never changed or deleted."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from portal.models import AuditEntry, AuditOutcome
from portal.models.audit import AuditLogIsAppendOnly
from portal.services import audit
from tests.factories import make_staff


def test_record_writes_actor_authority_role_and_outcome(session):
    worker = make_staff(session, authority_id="municipality-751")
    entry = audit.record(session, actor=worker, action="case.view", outcome=AuditOutcome.DENY, case_id=7)
    session.commit()
    row = session.get(AuditEntry, entry.id)
    assert (row.actor_authority_id, row.actor_role, row.outcome, row.case_id) == (
        "municipality-751", "caseworker", AuditOutcome.DENY, 7,
    )
    assert row.at.tzinfo is not None


def test_orm_refuses_to_change_or_delete_audit_rows(session):
    entry = audit.record(session, actor=None, action="x")
    session.commit()
    entry.action = "changed"
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()
    session.rollback()
    session.delete(session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEntry).values(action="changed"),
        delete(AuditEntry),
    ],
)
def test_database_refuses_bulk_changes_to_audit_rows(session, statement):
    audit.record(session, actor=None, action="x")
    session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(statement)
    session.rollback()
    assert session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'x'")).scalar() == 1


def test_insert_writes_the_same_row_as_record(app, session):
    worker = make_staff(session, authority_id="municipality-751")
    fields = {"actor": worker, "action": "case.view", "case_id": 7, "details": {"why": "test"}}
    with app.test_request_context():
        from flask import g

        g.correlation_id = "corr-1234"
        recorded = audit.record(session, **fields)
        audit.insert(session, **fields)
    session.commit()
    rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.view").order_by(AuditEntry.id)).all()
    assert [r.id for r in rows][0] == recorded.id and len(rows) == 2

    def columns(row):
        return {c: getattr(row, c) for c in ("actor_id", "actor_authority_id", "actor_role", "outcome", "case_id",
                                             "request_id", "subject_id", "correlation_id", "details")}

    assert columns(rows[0]) == columns(rows[1])
    assert rows[1].correlation_id == "corr-1234" and rows[1].outcome == AuditOutcome.ALLOW
    assert rows[1].at.tzinfo is not None
