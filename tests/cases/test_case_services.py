"""Routing a filed request into cases, and what caseworkers do with them."""

from __future__ import annotations

import time
from datetime import date

import pytest
from babel.dates import format_date as babel_date
from sqlalchemy import func, select

from portal.models import (
    AuditEntry,
    AuditOutcome,
    Case,
    CaseEvent,
    CaseStatus,
    EventKind,
    Message,
    Notification,
    OutboxMessage,
    Request,
    RequestStatus,
    Role,
    RoutingRecord,
    User,
)
from portal.services import cases
from portal.services.deadlines import add_days, danish_today
from tests.factories import make_case, make_citizen, make_request, make_staff


def routed_case(session, service="home-care", **request_overrides):
    citizen = make_citizen(session)
    request = make_request(session, citizen, service_type_slug=service, **request_overrides)
    session.commit()
    opened = cases.route_request(session, request.id)
    return opened[0], request, citizen


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_routing_opens_one_pending_case_with_deadlines_events_audit_and_notification(session):
    case, request, citizen = routed_case(session)
    assert case.authority_id == "municipality-461"
    assert case.status == CaseStatus.PENDING
    assert case.reference == f"{request.reference}-1"
    assert case.target_due <= case.limit_due
    assert case.target_due > danish_today()
    assert request.status == RequestStatus.ROUTED
    kinds = list(session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)))
    assert kinds == [EventKind.OPENED, EventKind.DEADLINE_SET]
    assert count(session, RoutingRecord, RoutingRecord.request_id == request.id) == 1
    assert count(session, AuditEntry, AuditEntry.action == "request.routed", AuditEntry.request_id == request.id) == 1
    note = session.scalar(select(Notification).where(Notification.case_id == case.id))
    assert (note.user_id, note.kind, note.reference) == (citizen.id, "case_opened", case.reference)
    assert count(session, OutboxMessage, OutboxMessage.job == "portal.jobs.notify") >= 1


def test_routing_twice_opens_no_second_case(session):
    case, request, _ = routed_case(session)
    again = cases.route_request(session, request.id)
    assert [c.id for c in again] == [case.id]
    assert count(session, Case, Case.request_id == request.id) == 1
    assert count(session, Notification, Notification.case_id == case.id) == 1


def test_routing_follows_a_rule_set_published_after_the_last_request_was_routed(session):
    """Published rule sets are compiled once per process; a newer one is used at once,
    from its first day."""
    from tests.portal.test_routing_service import EXTRA_RULE, _publish

    citizen = make_citizen(session, municipality_code="751")

    def route(filed_on):
        request = make_request(session, citizen, service_type_slug="disability-aids", filed_on=filed_on)
        session.commit()
        return cases.route_request(session, request.id)[0]

    assert route(date(2027, 6, 1)).authority_id == "municipality-751"
    admin = make_staff(session, role=Role.ADMINISTRATOR)
    published = _publish(session, admin, extra=EXTRA_RULE, valid_from="2027-06-01")
    case = route(date(2027, 6, 1))
    assert (case.authority_id, case.rule_set_version) == ("region-1082", published.version)
    assert (route(date(2027, 5, 31)).authority_id, route(date(2027, 5, 31)).rule_set_version) == (
        "municipality-751", 1)


def test_a_write_that_fails_leaves_the_request_filed_and_raises_so_the_job_is_retried(session):
    from sqlalchemy.exc import IntegrityError

    citizen = make_citizen(session)
    request = make_request(session, citizen)
    # A notification already holding the key the routing will use makes its flush fail.
    session.add(Notification(key=f"case-opened:{request.reference}-1", user_id=citizen.id, kind="case_opened",
                             reference="x", channel="none", status="skipped"))
    session.commit()
    with pytest.raises(IntegrityError):
        cases.route_request(session, request.id)
    session.rollback()
    session.refresh(request)
    assert request.status == RequestStatus.FILED
    assert count(session, Case, Case.request_id == request.id) == 0
    assert count(session, RoutingRecord, RoutingRecord.request_id == request.id) == 0


def test_one_request_two_authorities_opens_two_cases(session):
    citizen = make_citizen(session)
    request = make_request(session, citizen, service_type_slug="hospital-discharge")
    session.commit()
    opened = cases.route_request(session, request.id)
    assert len(opened) == 2
    assert {c.assignment_index for c in opened} == {0, 1}
    assert len({c.authority_id for c in opened}) == 2


def _unroutable(session, **fields):
    """A request no rule routes (by default home care from a municipality code no rule
    knows), after the routing job has run."""
    citizen = make_citizen(session)
    request = make_request(session, citizen, **{"municipality_code": "999", **fields})
    session.commit()
    assert cases.route_request(session, request.id) == []
    assert request.status == RequestStatus.UNROUTABLE
    return citizen, request


def test_an_unroutable_request_is_marked_and_listed_for_administrators(session):
    citizen, request = _unroutable(session, service_type_slug="no-such-service", municipality_code="461")
    admin = make_staff(session, role=Role.ADMINISTRATOR)
    assert request in cases.unroutable_requests(session, admin)
    with pytest.raises(PermissionError):
        cases.unroutable_requests(session, citizen)


def test_an_unroutable_request_is_routed_by_hand_with_the_reason_as_its_explanation(session):
    from portal.services import filing

    citizen, request = _unroutable(session)
    admin = make_staff(session, role=Role.ADMINISTRATOR)
    session.commit()
    opened = cases.route_by_hand(session, admin, request.id, authority_id="municipality-461",
                                 reason="Borgeren er flyttet til Odense.")
    assert [(c.authority_id, c.status, c.role, c.rule_id) for c in opened] == [
        ("municipality-461", CaseStatus.PENDING, "decides", cases.BY_HAND_RULE_ID)]
    case = opened[0]
    target = filing.definition_of(session, request).target_days
    assert case.target_due == case.limit_due == add_days(danish_today(), target)
    assert request.status == RequestStatus.ROUTED
    # The receipt and the overview tell the citizen where and why, in both languages.
    decision = filing.preview_routing(session, request, citizen).decision
    assert "Borgeren er flyttet til Odense." in decision.explanation.citizen_text("da")
    assert "Odense" in decision.explanation.citizen_text("en")
    assert decision.explanation.citizen_text("da") != decision.explanation.citizen_text("en")
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.request_id == request.id,
                                                                  AuditEntry.actor_id == admin.id)))
    assert actions == {"routing.by_hand", "request.routed"}
    assert session.scalar(select(func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.actor_id == admin.id)) == 2  # opened, deadline set
    assert count(session, OutboxMessage, OutboxMessage.job == "portal.jobs.notify") >= 1
    # Twice: the second finds it routed and changes nothing.
    with pytest.raises(cases.AlreadyRouted):
        cases.route_by_hand(session, admin, request.id, authority_id="municipality-101", reason="Igen.")
    session.rollback()
    assert count(session, Case, Case.request_id == request.id) == 1


def test_every_administrator_is_told_of_an_unroutable_request_once(session):
    from portal.services.notifications import render

    admins = [make_staff(session, role=Role.ADMINISTRATOR, authority_id=None, email=f"admin{i}@example.test")
              for i in range(2)]
    make_staff(session, email="caseworker@example.test")
    session.commit()
    citizen, request = _unroutable(session)
    notes = list(session.scalars(select(Notification).where(Notification.kind == "request_unroutable")))
    assert sorted(n.user_id for n in notes) == sorted(a.id for a in admins)
    assert {n.reference for n in notes} == {request.reference}
    assert count(session, OutboxMessage, OutboxMessage.job == "portal.jobs.notify") == 2
    cases.route_request(session, request.id)  # a second run of the job tells nobody again
    assert count(session, Notification, Notification.kind == "request_unroutable") == 2
    subject, body = render("request_unroutable", "da", request.reference, "https://indgang.example/admin/requests/unroutable")
    assert request.reference in subject and "/admin/requests/unroutable" in body


def test_two_administrators_routing_the_same_request_at_once_open_one_case(live_database_url, redis_url, tmp_path):
    """The first holds its commit until the second has read the request (or a second
    has passed). The second must wait for the request row and then be told it is
    routed, not open a second case nor fail on the unique constraints."""
    import threading

    from sqlalchemy import event

    from portal import create_app, redis_conn
    from tests.conftest import make_config

    app = create_app(make_config(live_database_url, redis_url, tmp_path))
    maker = app.extensions["db"].sessionmaker
    try:
        with app.app_context(), maker() as setup:
            _, request = _unroutable(setup)
            admins = [make_staff(setup, role=Role.ADMINISTRATOR, authority_id=None) for _ in range(2)]
            setup.commit()
            request_id, admin_ids = request.id, [a.id for a in admins]
        read = threading.Event()
        outcome = {}

        def route(name: str, admin_id: int, authority_id: str, hold: bool) -> None:
            with app.app_context(), maker() as session:
                if hold:
                    event.listen(session, "before_commit", lambda _s: read.wait(1))
                else:
                    event.listen(session.connection(), "after_cursor_execute",
                                 lambda *a: read.set() if "FROM requests" in a[2] else None)
                try:
                    cases.route_by_hand(session, session.get(User, admin_id), request_id,
                                        authority_id=authority_id, reason="Hører til her.")
                    outcome[name] = "routed"
                except cases.AlreadyRouted:
                    outcome[name] = "already routed"
                except Exception as exc:  # noqa: BLE001 - reported below
                    outcome[name] = repr(exc)

        first = threading.Thread(target=route, args=("first", admin_ids[0], "municipality-461", True))
        first.start()
        time.sleep(0.2)
        second = threading.Thread(target=route, args=("second", admin_ids[1], "municipality-101", False))
        second.start()
        for thread in (first, second):
            thread.join(60)
        assert outcome == {"first": "routed", "second": "already routed"}
        with maker() as check:
            assert [c.authority_id for c in check.scalars(select(Case).where(Case.request_id == request_id))] == [
                "municipality-461"]
            assert count(check, RoutingRecord, RoutingRecord.request_id == request_id) == 1
    finally:
        redis_conn.close(app)
        app.extensions["db"].engine.dispose()


def test_routing_by_hand_needs_an_authority_and_a_reason_and_changes_nothing_without(session):
    citizen, request = _unroutable(session)
    admin = make_staff(session, role=Role.ADMINISTRATOR)
    session.commit()
    with pytest.raises(cases.InvalidChange) as refused:
        cases.route_by_hand(session, admin, request.id, authority_id="", reason="  ")
    assert set(refused.value.errors) == {"authority", "reason"}
    session.rollback()
    with pytest.raises(cases.InvalidChange) as refused:
        cases.route_by_hand(session, admin, request.id, authority_id="no-such-authority", reason="x" * 2001)
    assert set(refused.value.errors) == {"authority", "reason"}
    session.rollback()
    assert request.status == RequestStatus.UNROUTABLE
    assert count(session, Case, Case.request_id == request.id) == 0
    assert count(session, RoutingRecord, RoutingRecord.request_id == request.id) == 0


def test_only_administrators_and_coordinators_route_by_hand(session):
    citizen, request = _unroutable(session)
    caseworker = make_staff(session)
    session.commit()
    for user in (citizen, caseworker, None):
        with pytest.raises(PermissionError):
            cases.route_by_hand(session, user, request.id, authority_id="municipality-461", reason="Nej.")
        session.rollback()
    coordinator = make_staff(session, role=Role.COORDINATOR, authority_id=None)
    session.commit()
    assert len(cases.route_by_hand(session, coordinator, request.id, authority_id="region-1083",
                                   reason="Regionen har opgaven.")) == 1


def test_calendar_day_deadlines_for_retraining_after_discharge(session):
    citizen = make_citizen(session)
    request = make_request(session, citizen, service_type_slug="hospital-discharge")
    session.commit()
    opened = cases.route_request(session, request.id)
    decision = session.scalar(select(RoutingRecord.decision).where(RoutingRecord.request_id == request.id))
    for case in opened:
        a = decision["assignments"][case.assignment_index]
        assert case.target_due == add_days(danish_today(), min(a["target_days"], a["limit_days"]), a["day_kind"])


def test_a_caseworker_of_another_authority_gets_not_found_and_a_denied_audit_row(session):
    case, _, citizen = routed_case(session)
    stranger = make_staff(session, authority_id="municipality-101")
    with pytest.raises(cases.CaseNotFound):
        cases.view_case(session, stranger, case.id)
    with pytest.raises(cases.CaseNotFound):
        cases.view_case(session, stranger, 10**9)
    denied = session.scalar(select(AuditEntry).where(AuditEntry.actor_id == stranger.id, AuditEntry.case_id == case.id))
    assert denied.outcome == AuditOutcome.DENY
    assert denied.subject_id == citizen.id
    with pytest.raises(cases.CaseNotFound):
        cases.accept_case(session, stranger, case.id)
    assert session.get(Case, case.id).status == CaseStatus.PENDING


def test_inbox_lists_only_own_authority_and_filters(session):
    case, _, _ = routed_case(session)
    other, _, _ = routed_case(session, municipality_code="101")
    worker = make_staff(session)
    page = cases.inbox(session, worker, cases.InboxFilters())
    ids = [c.id for c in page.cases]
    assert case.id in ids and other.id not in ids
    assert cases.inbox(session, worker, cases.InboxFilters(status="accepted")).cases == []
    assert cases.inbox(session, worker, cases.InboxFilters(assignee="me")).cases == []
    assert count(session, AuditEntry, AuditEntry.actor_id == worker.id, AuditEntry.action == "case.list") == 3


def test_reject_hands_over_and_the_other_authority_accepts_with_new_deadlines(session):
    case, request, citizen = routed_case(session)
    odense = make_staff(session)
    udbetaling = make_staff(session, authority_id="state-udbetaling-danmark")
    with pytest.raises(cases.InvalidChange) as missing:
        cases.reject_case(session, odense, case.id, reason=" ", to_authority_id="")
    assert set(missing.value.errors) == {"reason", "to_authority"}
    handover = cases.reject_case(session, odense, case.id, reason="Boligstøtte hører under Udbetaling Danmark",
                                 to_authority_id="state-udbetaling-danmark")
    assert (handover.from_authority_id, handover.to_authority_id) == ("municipality-461", "state-udbetaling-danmark")
    assert handover.sent_at is not None and handover.accepted_at is None
    case = session.get(Case, case.id)
    assert case.authority_id == "state-udbetaling-danmark" and case.status == CaseStatus.PENDING
    assert case.first_authority_id == "municipality-461"
    assert request.status == RequestStatus.ROUTED  # never closed by a handover
    with pytest.raises(cases.CaseNotFound):
        cases.view_case(session, odense, case.id)
    cases.accept_case(session, udbetaling, case.id)
    session.refresh(handover)
    assert handover.accepted_at is not None and handover.accepted_by_id == udbetaling.id
    assert case.status == CaseStatus.ACCEPTED
    kinds = list(session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)))
    assert kinds[-5:] == ["rejected", "handover_sent", "handover_accepted", "deadline_set", "accepted"]
    assert count(session, Notification, Notification.key == f"handover:{handover.id}") == 1


def test_status_machine_allows_only_listed_moves_and_closes_the_request(session):
    case, request, _ = routed_case(session)
    worker = make_staff(session)
    with pytest.raises(cases.InvalidChange):
        cases.change_status(session, worker, case.id, to="decided")  # pending: accept first
    cases.accept_case(session, worker, case.id)
    with pytest.raises(cases.InvalidChange):
        cases.change_status(session, worker, case.id, to="closed")
    for status in ("in_progress", "awaiting_citizen", "in_progress", "decided", "closed"):
        cases.change_status(session, worker, case.id, to=status)
    assert case.status == CaseStatus.CLOSED and case.closed_at is not None
    assert request.status == RequestStatus.CLOSED


def test_a_stale_form_is_refused(session):
    case, _, _ = routed_case(session)
    worker = make_staff(session)
    version = case.version
    cases.accept_case(session, worker, case.id, expected_version=version)
    with pytest.raises(cases.StaleCase):
        cases.change_status(session, worker, case.id, to="in_progress", expected_version=version)


def changed_meanwhile(app, case_id: int, worker_id: int) -> None:
    """Another session (another person) changes the case and commits, after the
    test's session loaded it: that session still holds the old version."""
    from portal.db import database

    with database(app).sessionmaker() as other:
        cases.change_deadline(other, other.get(User, worker_id), case_id, kind="suspend", days=2, reason="Venter")


STALE_CHANGES = {
    # Each flushes the case's UPDATE before its commit: autoflush before a query
    # (status: the notification's; reject: the webhooks'), or an explicit flush.
    "change_status": lambda s, u, c: cases.change_status(s, u, c, to="in_progress"),
    "reject_case": lambda s, u, c: cases.reject_case(s, u, c, reason="Hører under Udbetaling Danmark",
                                                     to_authority_id="state-udbetaling-danmark"),
    "record_decision": lambda s, u, c: cases.record_decision(s, u, c, outcome="Bevilget."),
}


@pytest.mark.parametrize("change", STALE_CHANGES.values(), ids=STALE_CHANGES.keys())
def test_a_case_changed_by_someone_else_meanwhile_is_stale_not_an_error(app, session, change):
    case, _, _ = routed_case(session)
    worker = make_staff(session, authority_id=case.authority_id)
    cases.accept_case(session, worker, case.id)
    changed_meanwhile(app, case.id, worker.id)  # this session still holds the case as it loaded it
    with pytest.raises(cases.StaleCase):
        change(session, worker, case.id)
    session.expire_all()
    kept = session.get(Case, case.id)
    assert kept.status == CaseStatus.ACCEPTED and kept.authority_id == worker.authority_id
    assert count(session, CaseEvent, CaseEvent.case_id == case.id,
                 CaseEvent.kind == EventKind.DEADLINE_SUSPENDED) == 1  # the other change stays
    assert count(session, Message, Message.case_id == case.id) == 0


def test_deadline_suspension_and_extension_are_recorded_with_reasons(session):
    case, _, _ = routed_case(session)
    worker = make_staff(session)
    target, limit = case.target_due, case.limit_due
    cases.change_deadline(session, worker, case.id, kind="suspend", days=5, reason="Venter på lægeerklæring")
    assert case.target_due == add_days(target, 5) and case.limit_due == add_days(limit, 5)
    with pytest.raises(cases.InvalidChange) as too_far:
        cases.change_deadline(session, worker, case.id, kind="extend", days=365, reason="x")
    assert "days" in too_far.value.errors
    with pytest.raises(cases.InvalidChange):
        cases.change_deadline(session, worker, case.id, kind="extend", days=1, reason="")
    event = session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                   CaseEvent.kind == EventKind.DEADLINE_SUSPENDED))
    assert event.data["reason"] == "Venter på lægeerklæring" and event.data["days"] == 5


def test_a_message_sent_twice_with_one_key_is_one_message(session):
    case, _, _ = routed_case(session)
    worker = make_staff(session)
    first = cases.send_message(session, worker, case.id, body="Hej", idempotency_key="k-1")
    second = cases.send_message(session, worker, case.id, body="Hej", idempotency_key="k-1")
    assert first.id == second.id
    assert count(session, Message, Message.case_id == case.id) == 1
    assert count(session, Notification, Notification.case_id == case.id, Notification.kind == "message") == 1


def test_watch_deadlines_warns_escalates_and_tells_the_citizen_once(session):
    case, _, citizen = routed_case(session)
    worker = make_staff(session)
    lead = make_staff(session, role=Role.TEAM_LEAD)
    cases.accept_case(session, worker, case.id)
    warn_day = add_days(case.target_due, -1)
    assert cases.watch_deadlines(session, today=warn_day)["warned"] == 1
    assert cases.watch_deadlines(session, today=warn_day)["warned"] == 0
    late = add_days(case.target_due, 1)
    first = cases.watch_deadlines(session, today=late)
    second = cases.watch_deadlines(session, today=late)
    assert first == {"warned": 0, "escalated": 1, "citizens_told": 1}
    assert second == {"warned": 0, "escalated": 0, "citizens_told": 0}
    keys = set(session.scalars(select(Notification.key).where(Notification.case_id == case.id)))
    target = case.target_due.isoformat()
    assert f"deadline-warning:{case.id}:{target}:{worker.id}" in keys
    assert f"deadline-breached:{case.id}:{target}:{lead.id}" in keys
    assert f"target-missed:{case.id}:{target}" in keys
    letter = session.scalar(select(Message).where(Message.case_id == case.id))
    # Written in the citizen's language with Danish dates ("23. december 2026"), not ISO.
    assert babel_date(case.limit_due, "long", locale="da") in letter.body
    assert case.limit_due.isoformat() not in letter.body


def test_retention_anonymises_closed_cases_past_the_period_once(session, tmp_path):
    from datetime import timedelta

    from portal.models.base import utcnow

    case, request, _ = routed_case(session, answers={"note": "privat"})
    worker = make_staff(session)
    cases.accept_case(session, worker, case.id)
    cases.send_message(session, worker, case.id, body="Personligt")
    for status in ("decided", "closed"):
        cases.change_status(session, worker, case.id, to=status)
    assert cases.anonymise_closed_cases(session, 30, tmp_path) == 0
    later = utcnow() + timedelta(days=31)
    assert cases.anonymise_closed_cases(session, 30, tmp_path, now=later) == 1
    assert request.answers == {}
    assert session.scalar(select(Message.body).where(Message.case_id == case.id)) == ""
    assert cases.anonymise_closed_cases(session, 30, tmp_path, now=later) == 0


def test_working_days_skip_weekends_and_danish_holidays():
    assert add_days(date(2026, 12, 24), 1) == date(2026, 12, 28)  # Christmas, weekend
    assert add_days(date(2026, 4, 1), 1) == date(2026, 4, 7)  # Easter
    assert add_days(date(2026, 4, 1), 3, "calendar") == date(2026, 4, 4)
    assert add_days(date(2026, 11, 27), 1) == date(2026, 11, 30)  # Friday -> Monday


def test_the_last_two_cases_closed_at_the_same_moment_close_the_request(live_database_url, redis_url, tmp_path):
    """Two caseworkers close the request's last two cases at once. The first holds
    its commit until the second has counted the open cases (or a second has passed);
    the request must end closed. Without the request lock, each counted the other's
    case as open and the request stayed open for good."""
    import threading

    from sqlalchemy import event

    from portal import create_app, redis_conn
    from tests.conftest import make_config

    app = create_app(make_config(live_database_url, redis_url, tmp_path))
    maker = app.extensions["db"].sessionmaker
    try:
        with app.app_context(), maker() as setup:
            first, request, _ = routed_case(setup)
            second = make_case(setup, request, "region-1083", assignment_index=1)
            workers = [make_staff(setup), make_staff(setup, "region-1083")]
            for worker, case in zip(workers, (first, second), strict=True):
                cases.accept_case(setup, worker, case.id)
                cases.change_status(setup, worker, case.id, to="decided")
            ids = [(w.id, c.id) for w, c in zip(workers, (first, second), strict=True)]
            request_id = request.id
        counted = threading.Event()
        errors = []

        def close(worker_id: int, case_id: int, hold: bool) -> None:
            try:
                with app.app_context(), maker() as session:
                    if hold:  # commit only once the other has counted (or after a second)
                        event.listen(session, "before_commit", lambda _s: counted.wait(1))
                    else:
                        event.listen(session.connection(), "after_cursor_execute",
                                     lambda *a: counted.set() if "count(" in a[2] and "cases.status !=" in a[2] else None)
                    cases.change_status(session, session.get(User, worker_id), case_id, to="closed")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        holder = threading.Thread(target=close, args=(*ids[0], True))
        holder.start()
        time.sleep(0.2)
        other = threading.Thread(target=close, args=(*ids[1], False))
        other.start()
        for thread in (holder, other):
            thread.join(60)
        assert errors == []
        with maker() as check:
            assert {c.status for c in check.scalars(select(Case).where(Case.request_id == request_id))} == {
                CaseStatus.CLOSED}
            assert check.get(Request, request_id).status == RequestStatus.CLOSED
    finally:
        redis_conn.close(app)
        app.extensions["db"].engine.dispose()


def test_a_deadline_reason_or_message_over_its_limit_is_refused_and_the_form_says_so(session, client, login):
    from portal import limits

    case, _, _ = routed_case(session)
    worker = make_staff(session, authority_id=case.authority_id)
    target = case.target_due
    with pytest.raises(cases.InvalidChange) as caught:
        cases.change_deadline(session, worker, case.id, kind="suspend", days=5, reason="x" * 100_000)
    assert "2000" in str(caught.value.errors["deadline_reason"])
    with pytest.raises(cases.InvalidChange) as caught:
        cases.send_message(session, worker, case.id, body="x" * (limits.MESSAGE + 1))
    assert "body" in caught.value.errors
    session.expire_all()
    assert session.get(Case, case.id).target_due == target
    assert count(session, Message, Message.case_id == case.id) == 0
    cases.change_deadline(session, worker, case.id, kind="suspend", days=5, reason="x" * limits.REASON)
    cases.accept_case(session, worker, case.id)
    login(worker)
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f'name="deadline_reason" maxlength="{limits.REASON}"' in html
    assert f'name="body" maxlength="{limits.MESSAGE}"' in html
