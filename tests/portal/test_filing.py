"""The filing service: answers checked per question, CPR numbers refused, the routing
preview and expected answer date, and filing in one transaction."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal.models import AuditEntry, OutboxMessage, Request, RequestStatus
from portal.services import filing
from portal.services.catalogue import Option, Question
from tests.factories import make_citizen

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Mit CPR-nummer er 010190-1234", True),
        ("cpr 0101901234 tak", True),
        ("010190 1234", True),
        ("290200-1234", True),  # 29 February 2000
        ("ring på 12345678", False),  # a phone number
        ("konto 1234-5678901234", False),  # digits inside a longer number
        ("320190-1234", False),  # day 32 is no date
        ("011390-1234", False),  # month 13 is no date
        ("12345678901", False),  # eleven digits
        ("Jeg har brug for hjælp", False),
    ],
)
def test_cpr_numbers_are_recognised(text, found):
    assert filing.contains_cpr(text) is found


TEXT = Question(id="t", type="textarea", label={"da": "T", "en": "T"}, max_length=20)
NUMBER = Question(id="n", type="number", label={"da": "N", "en": "N"}, min=1, max=20)
PAST = Question(id="d", type="date", label={"da": "D", "en": "D"}, not_future=True)
CHILD = Question(id="c", type="date", label={"da": "C", "en": "C"}, not_future=True, min_age=0, max_age=17)
CHOICE = Question(id="x", type="choice", label={"da": "X", "en": "X"},
                  options=(Option("a", {"da": "A", "en": "A"}),))
OPTIONAL = Question(id="o", type="text", label={"da": "O", "en": "O"}, required=False)


@pytest.mark.parametrize(
    ("question", "raw", "value", "error"),
    [
        (TEXT, "  hej  ", "hej", None),
        (TEXT, "", None, "Enter your answer"),
        (TEXT, "x" * 21, None, "Use 20 characters or fewer"),
        (TEXT, "cpr 010190-1234", None, "Remove the CPR number"),
        (TEXT, "<script>alert(1)</script>", None, "Use 20 characters"),
        (Question(id="h", type="text", label={}), "<b>fed</b>", "<b>fed</b>", None),  # stored as text
        (NUMBER, "12", 12, None),
        (Question(id="y", type="yesno", label={}), "no", False, None),
        (Question(id="y", type="yesno", label={}), True, True, None),  # a stored answer
        (NUMBER, "tolv", None, "Enter a whole number"),
        (NUMBER, "21", None, "between 1 and 20"),
        (PAST, "1 3 2026", "2026-03-01", None),
        (PAST, "01.03.2026", "2026-03-01", None),
        (PAST, "2026-03-01", "2026-03-01", None),
        (PAST, "31 2 2026", None, "Enter a real date"),
        (PAST, "1 1 2027", None, "today or in the past"),
        (PAST, "", None, "Enter a date"),
        (CHILD, "1 1 2000", None, "between 0 and 17"),
        (CHILD, "1 1 2020", "2020-01-01", None),
        (CHOICE, "a", "a", None),
        (CHOICE, "b", None, "Select one of the options"),
        (CHOICE, "", None, "Select an answer"),
        (OPTIONAL, "", None, None),
    ],
)
def test_check_answer(app, question, raw, value, error):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        got_value, got_error = filing.check_answer(question, raw, TODAY)
    assert got_value == value
    if error is None:
        assert got_error is None
    else:
        assert error in got_error


def _draft(session, citizen, slug="home-care", answers=None):
    draft = filing.start_draft(session, citizen, slug)
    draft.answers = answers or {}
    session.commit()
    return draft


HOME_CARE = {"help_type": "both", "need_description": "Rengøring", "need_since": "2026-03-01", "lives_alone": "no"}


def _counts(session):
    return (
        session.scalar(select(func.count()).select_from(OutboxMessage)),
        session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "request.filed")),
    )


def test_filing_commits_request_audit_and_outbox_together(app, session):
    citizen = make_citizen(session, municipality_code="461")
    draft = _draft(session, citizen, answers=HOME_CARE)
    with app.test_request_context():
        filed = filing.file_request(session, citizen, draft, idempotency_key="k1",
                                    confirmed_authority_id="municipality-461", posted_service_type="home-care")
    assert filed.status == RequestStatus.FILED
    assert filed.reference == f"IG-{filed.filed_on.year}-{filed.id:06d}"
    assert _counts(session) == (1, 1)
    job = session.scalar(select(OutboxMessage))
    assert job.job == "portal.jobs.route_request" and job.args == {"request_id": filed.id}


@pytest.mark.parametrize(
    ("answers", "authority", "service_type", "municipality", "field"),
    [
        ({**HOME_CARE, "need_description": None}, "municipality-461", "home-care", "461", "need"),
        ({**HOME_CARE, "need_since": "2999-01-01"}, "municipality-461", "home-care", "461", "since"),
        (HOME_CARE, "state-skattestyrelsen", "home-care", "461", "form"),  # tampered authority
        (HOME_CARE, "municipality-461", "tax-question", "461", "form"),  # tampered service type
        (HOME_CARE, "", "home-care", None, "form"),  # no municipality from the login
    ],
)
def test_filing_is_refused_and_changes_nothing(app, session, answers, authority, service_type, municipality, field):
    citizen = make_citizen(session, municipality_code=municipality)
    draft = _draft(session, citizen, answers={k: v for k, v in answers.items() if v is not None})
    with app.test_request_context(), pytest.raises(filing.FilingRefused) as refused:
        filing.file_request(session, citizen, draft, idempotency_key="k2",
                            confirmed_authority_id=authority, posted_service_type=service_type)
    assert field in refused.value.errors
    session.refresh(draft)
    assert draft.status == RequestStatus.DRAFT and draft.reference is None
    assert _counts(session) == (0, 0)


def test_a_second_submit_files_nothing_more(app, session):
    citizen = make_citizen(session)
    draft = _draft(session, citizen, answers=HOME_CARE)
    with app.test_request_context():
        for _ in range(2):
            filing.file_request(session, citizen, draft, idempotency_key="k3",
                                confirmed_authority_id="municipality-461", posted_service_type="home-care")
    assert _counts(session) == (1, 1)


def test_the_same_key_on_another_request_is_refused(app, session):
    citizen = make_citizen(session)
    first, second = _draft(session, citizen, answers=HOME_CARE), _draft(session, citizen, answers=HOME_CARE)
    with app.test_request_context():
        filing.file_request(session, citizen, first, idempotency_key="same",
                            confirmed_authority_id="municipality-461", posted_service_type="home-care")
        with pytest.raises(filing.FilingRefused):
            filing.file_request(session, citizen, second, idempotency_key="same",
                                confirmed_authority_id="municipality-461", posted_service_type="home-care")
    assert session.get(Request, second.id).status == RequestStatus.DRAFT
    assert _counts(session) == (1, 1)


def test_preview_home_care_in_odense(app, session):
    citizen = make_citizen(session, municipality_code="461")
    draft = _draft(session, citizen, answers=HOME_CARE)
    preview = filing.preview_routing(session, draft, citizen, day=date(2026, 12, 23))
    assert preview.deciding_authority_id == "municipality-461"
    assert "Odense Kommune" in preview.explanation("da")
    assert "Odense Kommune" in preview.explanation("en")
    # 10 working days from 23 December 2026: Christmas and New Year are skipped.
    assert preview.expected_on == date(2027, 1, 8)


def test_preview_uses_answers_as_routing_facts(app, session):
    citizen = make_citizen(session, municipality_code="101")
    abroad = _draft(session, citizen, "child-benefit", {"child_birth_date": "2020-01-01"})
    at_home = _draft(session, citizen, "child-benefit", {"child_birth_date": "2020-01-01"})
    # Answers saved through the form are stored as routing reads them (a boolean here).
    with app.test_request_context():
        for draft, answer in ((abroad, "yes"), (at_home, "no")):
            assert filing.save_step(session, citizen, draft, "abroad", {"lived_abroad": answer},
                                    posted_service_type="child-benefit") == {}
    assert abroad.answers["lived_abroad"] is True
    assert [a.authority_id for a in filing.preview_routing(session, abroad, citizen).assignments] == [
        "state-udbetaling-danmark", "state-skattestyrelsen"]
    assert [a.authority_id for a in filing.preview_routing(session, at_home, citizen).assignments] == [
        "state-udbetaling-danmark"]


def test_preview_after_the_region_reform(app, session):
    citizen = make_citizen(session, municipality_code="101")
    draft = _draft(session, citizen, "hospital-discharge", {"discharged_on": "2027-01-02", "hospital_name": "Rigshospitalet"})
    before = filing.preview_routing(session, draft, citizen, day=date(2026, 12, 31))
    after = filing.preview_routing(session, draft, citizen, day=date(2027, 1, 1))
    assert before.assignments[0].authority_id == "region-1084"
    assert after.assignments[0].authority_id == "region-ostdanmark"
    assert after.expected_on == date(2027, 1, 3)  # 2 calendar days


def test_an_unknown_municipality_gets_no_route_but_a_catalogue_target(app, session):
    citizen = make_citizen(session, municipality_code="999")
    draft = _draft(session, citizen, answers=HOME_CARE)
    preview = filing.preview_routing(session, draft, citizen, day=date(2026, 11, 23))
    assert preview.decision is None and preview.deciding_authority_id == ""
    assert preview.expected_on == date(2026, 12, 7)


def test_a_tampered_service_type_starts_nothing(session):
    citizen = make_citizen(session)
    with pytest.raises(filing.RequestNotFound):
        filing.start_draft(session, citizen, "../../etc/passwd")
    assert session.scalar(select(func.count()).select_from(Request)) == 0


def test_readable_answers_follow_the_questions(app, session):
    citizen = make_citizen(session)
    draft = _draft(session, citizen, answers={**HOME_CARE, "lives_alone": True})
    with app.test_request_context(headers={"Accept-Language": "en"}):
        answers = filing.readable_answers(session, draft, "en")
    assert answers[0] == ("What kind of help do you need?", "Both")
    assert answers[2] == ("Since when have you needed help?", "March 1, 2026")
    assert answers[3] == ("Do you live alone?", "Yes")
