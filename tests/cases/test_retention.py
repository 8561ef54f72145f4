"""Retention (storage limitation): what the daily job erases, what it keeps, and that
a second run changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.models import (
    Attachment,
    AuditEntry,
    Case,
    CaseEvent,
    CaseStatus,
    EventKind,
    Handover,
    Message,
    Request,
    RequestStatus,
    Role,
    RoutingRecord,
)
from portal.models.base import utcnow
from portal.services import attachments, cases, filing, overview
from tests.conftest import csrf_token
from tests.factories import make_case, make_citizen, make_request, make_staff
from tests.support.pages import assert_error_links_resolve

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
UDBETALING = "state-udbetaling-danmark"


def attach(session, citizen, draft, folder, filename="Lægeerklæring Ane Jensen.png") -> Attachment:
    """A real upload, stored on disk by the attachments service."""
    error = attachments.add_attachment(
        session, citizen, draft, kind="doc", filename=filename, data=PNG, upload_dir=folder,
        limits=attachments.UploadLimits(max_bytes=1024, max_files=5), allowed_kinds={"doc"})
    assert error is None
    return session.scalars(select(Attachment).where(Attachment.request_id == draft.id)
                           .order_by(Attachment.id.desc())).first()


def lived_case(session, folder):
    """A request with an uploaded file that went through a handover, a suspension, a
    message and an internal note, then was decided and closed."""
    citizen = make_citizen(session)
    request = make_request(session, citizen, status=RequestStatus.DRAFT, answers={"description": "Min ryg"})
    upload = attach(session, citizen, request, folder)
    request.status = RequestStatus.FILED
    session.commit()
    case = cases.route_request(session, request.id)[0]
    odense, udbetaling = make_staff(session), make_staff(session, authority_id=UDBETALING)
    cases.reject_case(session, odense, case.id, reason="Borgeren Ane bor hos sin datter",
                      to_authority_id=UDBETALING)
    cases.accept_case(session, udbetaling, case.id)
    cases.change_deadline(session, udbetaling, case.id, kind="suspend", days=5, reason="Venter på lægens svar om Ane")
    cases.send_message(session, udbetaling, case.id, body="Personligt")
    case.internal_note = "Intern note om Ane"
    session.commit()
    for status in ("decided", "closed"):
        cases.change_status(session, udbetaling, case.id, to=status)
    return request, case, upload


def audit_count(session, action: str) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def test_a_closed_request_loses_its_files_and_every_typed_text_once(session, tmp_path):
    request, case, upload = lived_case(session, tmp_path)
    stored = tmp_path / upload.stored_name
    assert stored.is_file()
    assert cases.anonymise_closed_cases(session, 30, tmp_path) == 0  # closed today: kept
    assert stored.is_file()

    later = utcnow() + timedelta(days=31)
    assert cases.anonymise_closed_cases(session, 30, tmp_path, now=later) == 1
    session.expire_all()
    assert not stored.exists()
    assert session.scalars(select(Attachment.filename).where(Attachment.request_id == request.id)).all() == []
    assert request.answers == {} and case.internal_note is None
    assert session.scalar(select(Message.body).where(Message.case_id == case.id)) == ""
    assert session.scalar(select(Handover.reason).where(Handover.case_id == case.id)) == ""
    events = {e.kind: e.data for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))}
    assert events[EventKind.REJECTED] == {"reason": "", "to": UDBETALING}  # structure stays
    assert events[EventKind.DEADLINE_SUSPENDED]["reason"] == "" and events[EventKind.DEADLINE_SUSPENDED]["days"] == 5
    assert events[EventKind.DEADLINE_SET]["reason"] == "handover"  # a code, not typed text
    assert (case.status, case.reference, case.closed_at is not None) == (CaseStatus.CLOSED, request.reference + "-1", True)
    assert request.anonymised_at is not None
    # The routing decision kept the answers as its facts; they go too, the rest stays.
    facts = session.scalar(select(RoutingRecord.decision).where(RoutingRecord.request_id == request.id))["facts"]
    assert facts["attributes"] == {} and facts["service_type"] == request.service_type_slug

    # A second run changes nothing and writes no second audit row.
    assert cases.anonymise_closed_cases(session, 30, tmp_path, now=later + timedelta(days=1)) == 0
    assert audit_count(session, "retention.anonymise") == 1
    row = session.scalar(select(AuditEntry).where(AuditEntry.action == "retention.anonymise"))
    assert (row.request_id, row.subject_id, row.details["attachments"]) == (request.id, request.citizen_id, 1)


def test_a_request_routed_by_hand_loses_the_typed_reason_and_keeps_where_it_went(session, tmp_path):
    citizen = make_citizen(session)
    request = make_request(session, citizen, municipality_code="999", answers={"description": "Min ryg"})
    session.commit()
    cases.route_request(session, request.id)
    admin = make_staff(session, role=Role.ADMINISTRATOR, authority_id=None)
    [case] = cases.route_by_hand(session, admin, request.id, authority_id="municipality-461",
                                 reason="Ane Jensen er flyttet til sin datter i Odense")
    odense = make_staff(session)
    cases.accept_case(session, odense, case.id)
    for status in ("decided", "closed"):
        cases.change_status(session, odense, case.id, to=status)
    assert cases.anonymise_closed_cases(session, 30, tmp_path, now=utcnow() + timedelta(days=31)) == 1
    session.expire_all()
    decision = session.scalar(select(RoutingRecord.decision).where(RoutingRecord.request_id == request.id))
    assert "Ane Jensen" not in repr(decision) and "Min ryg" not in repr(decision)
    assert "Odense Kommune" in decision["explanation"]["citizen_da"]
    assert decision["assignments"][0]["authority_id"] == "municipality-461"


def _messages(session, case) -> list[str]:
    return list(session.scalars(select(Message.body).where(Message.case_id == case.id).order_by(Message.id)))


def test_an_anonymised_case_takes_no_more_messages_from_staff_or_citizen(session, client, login, tmp_path):
    """Retention never looks at an anonymised request again: a message written after
    it would be kept for good, so both sides are refused, with words saying why."""
    request, case, _upload = lived_case(session, tmp_path)
    assert cases.anonymise_closed_cases(session, 30, tmp_path, now=utcnow() + timedelta(days=31)) == 1
    worker, citizen = make_staff(session, authority_id=UDBETALING), request.citizen
    session.commit()

    with pytest.raises(cases.CaseAnonymised):
        cases.send_message(session, worker, case.id, body="Har du flere spørgsmål, Ane?")
    session.rollback()
    login(worker)
    page = client.post(f"/cases/{case.id}/message", data={
        "csrf_token": csrf_token(client, f"/cases/{case.id}"), "body": "Hej Ane", "idempotency_key": "w1"})
    assert page.status_code == 422 and "beskederne er slettet" in page.get_data(as_text=True)

    errors = overview.reply_to_case(session, citizen, case, "Jeg har et spørgsmål", "c1")
    assert errors == {"body": cases.CaseAnonymised().errors["body"]}
    login(citizen)
    shown = client.get(f"/mine/sager/{case.id}").get_data(as_text=True)
    assert "beskederne er slettet" in shown and 'name="body"' not in shown  # no reply form to fill in
    refused = client.post(f"/mine/sager/{case.id}/svar", data={
        "csrf_token": csrf_token(client, "/mine"), "body": "Hvorfor fik jeg afslag?", "idempotency_key": "c2"})
    assert refused.status_code == 400 and "beskederne er slettet" in refused.get_data(as_text=True)
    assert assert_error_links_resolve(refused.get_data(as_text=True)) == ["reply-body"]
    session.expire_all()
    assert _messages(session, case) == [""]  # only the erased one from before


def test_a_closed_case_not_yet_anonymised_still_takes_a_question_from_the_citizen(session, client, login, tmp_path):
    request, case, _upload = lived_case(session, tmp_path)
    login(request.citizen)
    sent = client.post(f"/mine/sager/{case.id}/svar", data={
        "csrf_token": csrf_token(client, f"/mine/sager/{case.id}"), "body": "Hvorfor fik jeg afslag?",
        "idempotency_key": "c1"})
    assert sent.status_code == 303
    assert _messages(session, case) == ["Personligt", "Hvorfor fik jeg afslag?"]


def test_a_file_already_gone_from_disk_is_no_error(session, tmp_path):
    request, _case, upload = lived_case(session, tmp_path)
    (tmp_path / upload.stored_name).unlink()
    assert cases.anonymise_closed_cases(session, 30, tmp_path, now=utcnow() + timedelta(days=31)) == 1
    assert session.scalar(select(func.count()).select_from(Attachment).where(Attachment.request_id == request.id)) == 0


def test_a_request_whose_cases_all_closed_is_anonymised_whatever_its_own_status(session, tmp_path):
    long_ago = utcnow() - timedelta(days=400)
    citizen = make_citizen(session)
    # Two cases closed at the same moment can each have seen the other still open.
    stuck = make_request(session, citizen, status=RequestStatus.ROUTED, answers={"description": "Privat"})
    for index in range(2):
        make_case(session, stuck, assignment_index=index, status=CaseStatus.CLOSED, closed_at=long_ago)
    still_open = make_request(session, citizen, status=RequestStatus.ROUTED, answers={"description": "Åben"})
    make_case(session, still_open, assignment_index=0, status=CaseStatus.CLOSED, closed_at=long_ago)
    make_case(session, still_open, assignment_index=1, status=CaseStatus.DECIDED)
    session.commit()
    assert cases.anonymise_closed_cases(session, 30, tmp_path) == 1
    assert stuck.answers == {}
    assert still_open.answers == {"description": "Åben"}


def test_old_drafts_are_deleted_with_their_files_recent_ones_stay(session, tmp_path):
    long_ago = utcnow() - timedelta(days=200)
    citizen = make_citizen(session)
    old = make_request(session, citizen, status=RequestStatus.DRAFT, reference=None, answers={"description": "Gl."})
    old_file = attach(session, citizen, old, tmp_path)
    recent = make_request(session, citizen, status=RequestStatus.DRAFT, reference=None, answers={"description": "Ny"})
    # Untouched answers, but a file added yesterday: the citizen is still at it.
    busy = make_request(session, citizen, status=RequestStatus.DRAFT, reference=None)
    busy_file = attach(session, citizen, busy, tmp_path)
    session.execute(update(Request).where(Request.id.in_([old.id, busy.id])).values(updated_at=long_ago))
    session.execute(update(Attachment).where(Attachment.id == old_file.id).values(uploaded_at=long_ago))
    session.commit()
    old_id = old.id

    assert filing.delete_stale_drafts(session, 180, tmp_path) == 1
    session.expire_all()
    assert session.get(Request, old_id) is None
    assert not (tmp_path / old_file.stored_name).exists()
    assert session.get(Request, recent.id).answers == {"description": "Ny"}
    assert (tmp_path / busy_file.stored_name).is_file()
    assert filing.delete_stale_drafts(session, 180, tmp_path) == 0
    [row] = session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.draft_deleted"))
    assert (row.subject_id, row.details["request_id"]) == (citizen.id, old_id)


def test_the_daily_job_reports_each_kind_and_a_second_run_nothing(app, session):
    from portal import jobs

    folder = attachments.upload_dir(app.instance_path)
    request, case, upload = lived_case(session, folder)
    draft = make_request(session, request.citizen, status=RequestStatus.DRAFT, reference=None,
                         updated_at=utcnow() - timedelta(days=app.config["DRAFT_RETENTION_DAYS"] + 1))
    session.execute(update(Case).where(Case.id == case.id).values(
        closed_at=utcnow() - timedelta(days=app.config["RETENTION_DAYS"] + 1)))
    session.commit()
    draft_id = draft.id
    with app.app_context():
        first = jobs.retention()
        second = jobs.retention()
    assert first["requests_anonymised"] == 1 and first["drafts_deleted"] == 1
    assert {k: v for k, v in second.items() if k != "audit_rows_deleted"} == {
        "requests_anonymised": 0, "plans_anonymised": 0, "drafts_deleted": 0}
    assert not (folder / upload.stored_name).exists()
    session.expire_all()
    assert session.get(Request, draft_id) is None


def test_a_retention_below_its_floor_is_refused_at_start():
    from portal.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="DRAFT_RETENTION_DAYS"):
        load_config({"DRAFT_RETENTION_DAYS": "7"})
    assert load_config({})["DRAFT_RETENTION_DAYS"] == 180
    with pytest.raises(ConfigError, match="RETENTION_DAYS must be at least 90"):
        load_config({"RETENTION_DAYS": "0"})
    assert load_config({"RETENTION_DAYS": "90"})["RETENTION_DAYS"] == 90
