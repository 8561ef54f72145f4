"""How did it go? Invitations when a case is decided or closed, optional answers stored
apart from the case, one answer per case, and figures only above the minimum count on
the coordinator dashboard and the public results page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, inspect, select

from portal.models import (
    AuditEntry,
    CaseStatus,
    Notification,
    Role,
    SurveyInvitation,
    SurveyResponse,
)
from portal.services import cases, stats, surveys
from tests.conftest import csrf_token
from tests.factories import make_case, make_citizen, make_request, make_staff

M461 = "municipality-461"


def decided_case(session, authority_id=M461, service="home-care", citizen=None):
    """A case taken through the caseworker's real status changes to DECIDED."""
    citizen = citizen or make_citizen(session)
    request = make_request(session, citizen, service_type_slug=service)
    case = make_case(session, request, authority_id=authority_id)
    worker = make_staff(session, authority_id=authority_id)
    session.commit()
    cases.accept_case(session, worker, case.id)
    cases.change_status(session, worker, case.id, to="decided")
    return case, citizen, worker


def test_deciding_a_case_invites_the_citizen_once_on_the_overview_and_by_notification(session, client, login):
    case, citizen, worker = decided_case(session)
    cases.change_status(session, worker, case.id, to="closed")  # closing does not ask again
    invitations = session.scalars(select(SurveyInvitation).where(SurveyInvitation.case_id == case.id)).all()
    assert len(invitations) == 1
    note = session.scalar(select(Notification).where(Notification.key == f"survey:{case.id}"))
    assert note.kind == "survey" and note.user_id == citizen.id
    login(citizen)
    overview = client.get("/mine").get_data(as_text=True)
    assert f'href="/mine/cases/{case.id}/survey"' in overview


def test_answers_are_stored_without_case_citizen_or_caseworker_and_only_once(session, client, login):
    case, citizen, _ = decided_case(session)
    login(citizen)
    token = csrf_token(client, f"/mine/cases/{case.id}/survey")
    form = {"csrf_token": token, "satisfaction": "4", "repeated_information": "no", "clear_who_handled": "yes"}
    assert client.post(f"/mine/cases/{case.id}/survey", data=form).status_code == 303
    assert client.post(f"/mine/cases/{case.id}/survey", data={**form, "satisfaction": "1"}).status_code == 200
    rows = session.scalars(select(SurveyResponse)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.satisfaction, row.repeated_information, row.clear_who_handled) == (4, False, True)
    assert (row.authority_id, row.service_type_slug) == (M461, "home-care")
    columns = {c.key for c in inspect(SurveyResponse).columns}
    assert not columns & {"case_id", "citizen_id", "user_id", "assignee_id", "comment", "text"}
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "survey.answered"))
    assert audit.details == {}  # that they answered, never what
    assert f"/mine/cases/{case.id}/survey" not in client.get("/mine").get_data(as_text=True)


def test_every_question_is_optional_but_an_empty_form_asks_to_answer_one_or_decline(session, client, login):
    case, citizen, _ = decided_case(session)
    login(citizen)
    token = csrf_token(client, f"/mine/cases/{case.id}/survey")
    empty = client.post(f"/mine/cases/{case.id}/survey", data={"csrf_token": token})
    html = empty.get_data(as_text=True)
    assert empty.status_code == 400 and "<title>Fejl:" in html and 'href="#satisfaction-1"' in html
    bad = client.post(f"/mine/cases/{case.id}/survey", data={"csrf_token": token, "satisfaction": "9"})
    assert bad.status_code == 400
    only_one = client.post(f"/mine/cases/{case.id}/survey", data={"csrf_token": token, "clear_who_handled": "no"})
    assert only_one.status_code == 303
    row = session.scalar(select(SurveyResponse))
    assert (row.satisfaction, row.repeated_information, row.clear_who_handled) == (None, None, False)


def test_declining_stores_nothing_and_ends_the_prompt(session, client, login):
    case, citizen, _ = decided_case(session)
    login(citizen)
    token = csrf_token(client, f"/mine/cases/{case.id}/survey")
    assert client.post(f"/mine/cases/{case.id}/survey/decline", data={"csrf_token": token}).status_code == 303
    assert session.scalar(select(func.count()).select_from(SurveyResponse)) == 0
    assert session.scalar(select(SurveyInvitation)).declined is True


def test_another_citizens_survey_is_not_found(session, client, login):
    case, _, _ = decided_case(session)
    stranger = make_citizen(session)
    session.commit()
    login(stranger)
    assert client.get(f"/mine/cases/{case.id}/survey").status_code == 404


def _answers(session, n, authority_id=M461, satisfaction=4):
    for _ in range(n):
        case, citizen, _worker = decided_case(session, authority_id=authority_id)
        surveys.answer(session, citizen, case.id, {"satisfaction": str(satisfaction), "repeated_information": "yes",
                                                   "clear_who_handled": "yes"})


@pytest.fixture
def coordinator(session):
    user = make_staff(session, authority_id=M461, role=Role.COORDINATOR)
    session.commit()
    return user


def _satisfaction_rows(html: str) -> list[str]:
    table = re.search(r'<table id="satisfaction-table">(.*?)</table>', html, re.S).group(1)
    return re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", table, re.S)


def test_satisfaction_appears_on_dashboard_and_public_page_only_from_the_minimum_count(
        app, session, client, login_as, coordinator):
    app.config["STATS_MIN_COUNT"] = 3
    _answers(session, 2, authority_id=M461, satisfaction=2)
    _answers(session, 3, authority_id="municipality-101", satisfaction=5)
    public = client.get("/results").get_data(as_text=True)
    login_as(coordinator)
    dashboard = client.get("/stats/").get_data(as_text=True)
    for html in (public, dashboard):
        rows = _satisfaction_rows(html)
        odense = next(r for r in rows if "Odense" in r)
        copenhagen = next(r for r in rows if "København" in r)
        assert "Færre end 3 svar" in odense and not re.search(r">\s*2\s*<", odense) and "2.0" not in odense
        assert ">3<" in copenhagen and "5.0" in copenhagen and "100 %" in copenhagen
    # Raise the minimum: nothing is shown at all.
    app.config["STATS_MIN_COUNT"] = 4
    rows = _satisfaction_rows(client.get("/results").get_data(as_text=True))
    assert all("Færre end 4 svar" in r for r in rows) and not any("5.0" in r for r in rows)


def test_the_instant_share_per_service_is_on_the_dashboard(app, session, client, login, coordinator):
    app.config["STATS_MIN_COUNT"] = 1
    decided_case(session, service="housing-benefit", authority_id="state-udbetaling-danmark")
    stats.refresh(session)  # the decided cases are counted from the statistics' rollup
    login(coordinator)
    html = client.get("/stats/").get_data(as_text=True)
    section = re.search(r'id="instant-heading".*?</table>', html, re.S).group(0)
    assert "Boligstøtte" in section and "0 %" in section
    assert CaseStatus.DECIDED.value == "decided"
