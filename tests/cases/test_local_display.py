"""Times and dates are shown in Danish local time, written the page language's way;
staff and citizens read names (services, questions, authorities, statuses, who wrote
a message) rather than the stored ids."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from babel.dates import format_date
from sqlalchemy import select

from portal.models import AuditEntry, Authority, DecisionCheck, Message, Role
from portal.services import cases, overview
from portal.services.deadlines import add_days
from tests.factories import make_citizen, make_request, make_staff

# 23:30 UTC on a summer evening is 01:30 the next night in Copenhagen (CEST, UTC+2).
SUMMER_NIGHT = datetime(2025, 7, 3, 23, 30, tzinfo=UTC)
DANISH_TIME = "04.07.2025 01.30"
# English pages keep Danish conventions too (en_DK): day first, 24-hour time.
ENGLISH_TIME = "04/07/2025, 01.30"
HOME_CARE_ANSWERS = {"help_type": "both", "need_description": "Jeg kan ikke gå på trapper",
                     "need_since": "2025-03-03", "lives_alone": "yes"}


def routed(session, **overrides):
    citizen = make_citizen(session, **overrides.pop("citizen", {}))
    request = make_request(session, citizen, service_type_slug="home-care", **overrides)
    session.commit()
    return cases.route_request(session, request.id)[0], citizen


def name_of(session, authority_id: str) -> Authority:
    return session.get(Authority, authority_id)


def test_who_has_seen_my_data_shows_danish_local_time(client, session, login):
    citizen = make_citizen(session)
    worker = make_staff(session)
    session.add(AuditEntry(at=SUMMER_NIGHT, actor_id=worker.id, actor_authority_id=worker.authority_id,
                           actor_role=Role.CASEWORKER.value, action="case.view", subject_id=citizen.id))
    session.commit()
    login(citizen)
    html = client.get("/mine/privacy/", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert DANISH_TIME in html
    assert "2025-07-03 23:30" not in html
    english = client.get("/mine/privacy/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ENGLISH_TIME in english


def test_my_data_shows_times_in_danish_local_time_and_days_the_danish_way(client, session, login):
    case, citizen = routed(session, citizen={"created_at": SUMMER_NIGHT})
    login(citizen)
    html = client.get("/mine/privacy/data", headers={"Accept-Language": "da"}).get_data(as_text=True)
    first_login = re.search(r"<dt>Første login</dt><dd>(.*?)</dd>", html).group(1)
    assert first_login == DANISH_TIME
    expected = re.search(r'<dd class="expected-by">(.*?)</dd>', html).group(1)
    assert expected == format_date(case.target_due, "long", locale="da")  # e.g. "9. december 2026"


def test_the_caseworker_reads_the_questions_answers_and_service_name(client, session, login):
    case, _ = routed(session, answers=HOME_CARE_ANSWERS)
    worker = make_staff(session)
    session.commit()
    login(worker)
    html = client.get(f"/cases/{case.id}", headers={"Accept-Language": "da"}).get_data(as_text=True)
    answers = html[html.index('class="summary-list answers"'):]
    answers = answers[:answers.index("</dl>")]
    assert "<dt>Hvilken slags hjælp har du brug for?</dt><dd>Begge dele</dd>" in answers
    assert "<dt>Siden hvornår har du haft brug for hjælp?</dt><dd>3. marts 2025</dd>" in answers
    assert "<dt>Bor du alene?</dt><dd>Ja</dd>" in answers
    assert "help_type" not in html and "need_since" not in html
    assert "<dt>Ydelse</dt><dd>Hjemmehjælp</dd>" in html
    assert ">home-care<" not in html
    # Deadlines as Danish dates, not ISO.
    assert format_date(case.target_due, "long", locale="da") in html
    assert case.target_due.isoformat() not in html


def test_the_inbox_names_the_service(client, session, login):
    case, _ = routed(session)
    login(make_staff(session))
    session.commit()
    html = client.get("/cases/", headers={"Accept-Language": "da"}).get_data(as_text=True)
    row = re.search(rf"{case.reference}.*?</tr>", html, re.S).group(0)
    assert "<td>Hjemmehjælp</td>" in row and "home-care" not in row
    assert '<option value="home-care" >Hjemmehjælp</option>' in html  # the service filter too
    assert case.target_due.isoformat() not in row


def test_the_caseworker_sees_who_wrote_each_message_and_when_in_danish_time(client, session, login):
    case, citizen = routed(session)
    worker = make_staff(session, name="Karin Sagsbehandler")
    session.commit()
    sent = cases.send_message(session, worker, case.id, body="Vi mangler en lægeerklæring.", idempotency_key="m-1")
    assert overview.reply_to_case(session, citizen, case, "Den kommer i morgen.", "m-2") == {}
    sent.created_at = SUMMER_NIGHT
    session.commit()
    login(worker)
    html = client.get(f"/cases/{case.id}", headers={"Accept-Language": "da"}).get_data(as_text=True)
    messages = html[html.index('class="timeline"'):]  # messages sit in the one timeline
    messages = messages[:messages.index("</ol>")]
    odense = name_of(session, worker.authority_id).name_da
    written = messages[:messages.index("Vi mangler en lægeerklæring.")]
    assert f"Fra Karin Sagsbehandler, {odense}" in written and DANISH_TIME in written
    reply = messages[messages.index("Vi mangler en lægeerklæring."):]
    assert "Fra borgeren" in reply and "Den kommer i morgen." in reply


def test_the_citizens_case_page_names_authorities_in_english(client, session, login):
    case, citizen = routed(session)
    login(citizen)
    authority = name_of(session, case.authority_id)
    assert authority.name_en != authority.name_da
    html = client.get(f"/mine/sager/{case.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f"<title>Home care – {authority.name_en}" in html
    assert f"<dd>{authority.name_en}</dd>" in html
    assert f"Write to {authority.name_en}" in html
    assert authority.name_da not in html


def test_the_citizen_reads_which_authority_wrote_a_message_after_a_handover(client, session, login):
    case, citizen = routed(session)
    odense = make_staff(session)
    session.commit()
    cases.send_message(session, odense, case.id, body="Vi ser på din sag.", idempotency_key="m-odense")
    cases.reject_case(session, odense, case.id, reason="Hører under Udbetaling Danmark",
                      to_authority_id="state-udbetaling-danmark")
    login(citizen)
    html = client.get(f"/mine/sager/{case.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    item = re.search(r"<li class=\"timeline-message-in\">.*?</li>", html, re.S).group(0)
    assert f"Message from {name_of(session, 'municipality-461').name_en}" in item
    assert name_of(session, "state-udbetaling-danmark").name_en not in item


def test_the_target_missed_letter_gives_dates_in_the_citizens_language(session):
    case, citizen = routed(session, citizen={"locale": "en"})
    cases.accept_case(session, make_staff(session), case.id)
    cases.watch_deadlines(session, today=add_days(case.target_due, 1))
    letter = session.scalar(select(Message).where(Message.case_id == case.id))
    assert format_date(case.target_due, "long", locale="en") in letter.body  # "December 9, 2026"
    assert format_date(case.limit_due, "long", locale="en") in letter.body
    assert case.limit_due.isoformat() not in letter.body


def test_requests_to_route_by_hand_name_the_service(client, session, login):
    citizen = make_citizen(session)
    request = make_request(session, citizen, service_type_slug="home-care", municipality_code="999")
    session.commit()
    assert cases.route_request(session, request.id) == []  # no rule knows municipality 999
    login(make_staff(session, authority_id=None, role=Role.ADMINISTRATOR))
    session.commit()
    html = client.get("/admin/requests/unroutable", headers={"Accept-Language": "da"}).get_data(as_text=True)
    row = re.search(rf"<tr><td>{request.reference}</td>.*?</tr>", html, re.S).group(0)
    assert "<td>Hjemmehjælp</td>" in row and "home-care" not in row
    assert request.filed_on.isoformat() not in row


def test_the_time_of_an_instant_decision_is_danish_local_time(client, session, login):
    citizen = make_citizen(session, birth_date=date(1980, 5, 17))
    request = make_request(session, citizen, service_type_slug="housing-benefit",
                           answers={"rent": 6500, "adults": 1, "moved_in_on": "2025-05-01"})
    session.commit()
    [case] = cases.route_request(session, request.id)
    check = session.scalar(select(DecisionCheck).where(DecisionCheck.request_id == request.id))
    check.checked_at = SUMMER_NIGHT
    session.commit()
    login(make_staff(session, authority_id=case.authority_id))
    session.commit()
    html = client.get(f"/cases/{case.id}", headers={"Accept-Language": "da"}).get_data(as_text=True)
    section = html[html.index('id="decision-rules-heading"'):]
    assert f"kontrolleret {DANISH_TIME}." in section[:section.index("</p>")]
