"""The audit log can be added to, never changed or deleted."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DatabaseError

from portal.models import AuditEntry, AuditOutcome, Role
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


def _aged(session, action: str, days: int):
    from datetime import timedelta

    from portal.models.base import utcnow

    session.add(AuditEntry(action=action, at=utcnow() - timedelta(days=days), details={}))


def _actions(session) -> set[str]:
    return set(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("aged.%"))))


def test_retention_deletes_only_audit_rows_past_the_retention_period(app, session):
    from portal import jobs

    for days in (6 * 365, 4 * 365, 0):
        _aged(session, f"aged.{days}", days)
    session.commit()
    with app.app_context():
        first = jobs.retention()
    assert first["audit_rows_deleted"] >= 1
    assert _actions(session) == {f"aged.{4 * 365}", "aged.0"}
    note = session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.audit_deleted")).one()
    assert note.details["rows"] == first["audit_rows_deleted"]
    with app.app_context():
        assert jobs.retention()["audit_rows_deleted"] == 0  # a second run finds nothing
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "retention.audit_deleted")) == 1


def test_the_database_keeps_rows_younger_than_its_cutoff_whatever_the_application_asks(session):
    _aged(session, "aged.old", 3 * 365)
    _aged(session, "aged.young", 10)
    session.commit()
    assert audit.delete_expired(session, 2 * 365) == 1
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(delete(AuditEntry).where(AuditEntry.action == "aged.young"))
    session.rollback()
    assert _actions(session) == {"aged.young"}


@pytest.mark.parametrize("days_ago", [10, 179])
def test_the_database_refuses_a_cutoff_younger_than_180_days(session, days_ago):
    from datetime import timedelta

    from portal.models import AuditRetention
    from portal.models.base import utcnow

    with pytest.raises(DatabaseError, match="cutoff"):
        session.execute(update(AuditRetention).values(delete_before=utcnow() - timedelta(days=days_ago)))
    session.rollback()


def test_the_database_refuses_to_move_the_cutoff_back_or_drop_it(session):
    from datetime import timedelta

    from portal.models import AuditRetention
    from portal.models.base import utcnow

    audit.delete_expired(session, 365)
    with pytest.raises(DatabaseError, match="cutoff|cannot be deleted"):
        session.execute(update(AuditRetention).values(delete_before=utcnow() - timedelta(days=2 * 365)))
    session.rollback()
    with pytest.raises(DatabaseError, match="cutoff|cannot be deleted"):
        session.execute(delete(AuditRetention))
    session.rollback()


def test_an_audit_retention_below_the_floor_is_refused_at_start():
    from portal.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="AUDIT_RETENTION_DAYS"):
        load_config({"AUDIT_RETENTION_DAYS": "30"})
    assert load_config({"AUDIT_RETENTION_DAYS": "180"})["AUDIT_RETENTION_DAYS"] == 180


LISTINGS = [
    (Role.ADMINISTRATOR, None, "/admin/jobs/failed", "jobs.list_failed"),
    (Role.ADMINISTRATOR, None, "/admin/requests/unroutable", "request.list_unroutable"),
    # The dashboard itself shows figures only; it is audited when it lists cases.
    (Role.COORDINATOR, "municipality-461", "/stats/cases", "stats.drill_down"),
    (Role.CASEWORKER, "municipality-461", "/cases/", "case.list"),
    (Role.CASEWORKER, "municipality-461", "/plans", "plan.list"),
    (Role.CASEWORKER, "municipality-461", "/cases/instant-decisions", "decision.review_list"),
]


@pytest.mark.parametrize(("role", "authority_id", "path", "action"), LISTINGS, ids=[row[3] for row in LISTINGS])
def test_every_staff_listing_writes_one_audit_row_with_the_requests_correlation_id(
        client, login, session, role, authority_id, path, action):
    user = make_staff(session, authority_id, role=role) if authority_id else make_staff(session, role=role,
                                                                                          authority_id=None)
    session.commit()
    login(user)

    def rows() -> list[AuditEntry]:
        session.expire_all()
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))

    before = len(rows())
    response = client.get(path)
    assert response.status_code == 200
    [row] = rows()[before:]
    assert (row.actor_id, row.actor_role, row.actor_authority_id, row.outcome) == (
        user.id, role.value, authority_id, AuditOutcome.ALLOW)
    assert row.correlation_id == response.headers["X-Correlation-ID"]
    # A correlation id from the load balancer is kept, so one request can be traced
    # from the proxy's log to the audit log.
    client.get(path, headers={"X-Correlation-ID": "lb-0f1e2d3c4b5a"})
    assert rows()[-1].correlation_id == "lb-0f1e2d3c4b5a"
