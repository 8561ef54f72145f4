"""A citizen's "who has seen my data" page and the GDPR Art. 15 export."""

from __future__ import annotations

import json

from babel.dates import format_date
from sqlalchemy import func, select

from portal.models import AuditEntry
from portal.services import cases
from tests.factories import make_case, make_citizen, make_request, make_staff


def setup_case(session):
    citizen = make_citizen(session)
    request = make_request(session, citizen, answers={"description": "Jeg har brug for hjælp", "help_type": "both"})
    session.commit()
    case = cases.route_request(session, request.id)[0]
    odense = make_staff(session)
    cases.view_case(session, odense, case.id)
    cases.reject_case(session, odense, case.id, reason="Hører under Udbetaling Danmark",
                      to_authority_id="state-udbetaling-danmark")
    return citizen, case


def test_who_has_seen_my_data_lists_the_authorities(client, session, login):
    citizen, case = setup_case(session)
    login(citizen)
    html = client.get("/mine/privacy/").get_data(as_text=True)
    assert "Odense" in html
    assert case.reference in html
    assert "Loggen gemmes i 5 år." in html  # AUDIT_RETENTION_DAYS, said where the log is read
    # RETENTION_DAYS and DRAFT_RETENTION_DAYS, in Danish
    assert "slettes 5 år efter, at den sidste sag er lukket" in html
    assert "En kladde, du ikke har sendt, slettes, når den ikke er ændret i 180 dage." in html


def test_someone_elses_access_log_is_not_shown(client, session, login):
    _, case = setup_case(session)
    other = make_citizen(session)
    session.commit()
    login(other)
    html = client.get("/mine/privacy/").get_data(as_text=True)
    assert case.reference not in html


def test_export_as_json_holds_requests_cases_handovers_and_access_log_and_is_audited(client, session, login):
    citizen, case = setup_case(session)
    login(citizen)
    response = client.get("/mine/privacy/data.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = json.loads(response.get_data(as_text=True))
    exported_case = data["requests"][0]["cases"][0]
    assert exported_case["reference"] == case.reference
    assert exported_case["authority_id"] == "state-udbetaling-danmark"
    assert exported_case["handovers"][0]["from"] == "municipality-461"
    assert data["requests"][0]["answers"]["description"] == "Jeg har brug for hjælp"
    assert {row["action"] for row in data["access_log"]} >= {"case.view", "handover.send"}
    assert all(e["kind"] != "rejected" for e in exported_case["events"])  # internal events stay internal
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.actor_id == citizen.id, AuditEntry.action == "privacy.export")) == 1


def test_readable_export_shows_the_handover_and_expected_date(client, session, login):
    citizen, case = setup_case(session)
    login(citizen)
    html = client.get("/mine/privacy/data").get_data(as_text=True)
    assert "Udbetaling Danmark" in html
    assert format_date(case.target_due, "long", locale="da") in html  # "9. december 2026", not ISO
    assert case.target_due.isoformat() not in html
    assert "Hører under Udbetaling Danmark" in html
    # Answers read as the questions and choices the citizen saw, not their ids; an
    # answer to a question no longer asked keeps its id.
    assert "help_type" not in html and "Jeg har brug for hjælp" in html


def test_staff_cannot_use_the_citizen_pages(client, session, login):
    login(make_staff(session))
    session.commit()
    assert client.get("/mine/privacy/data.json").status_code == 403


def test_the_access_log_says_what_staff_did_with_the_citizens_plan(client, session, login):
    """Plan views and changes are told as such, never as "changed your case"."""
    from portal.services import plans

    citizen = make_citizen(session, municipality_code="751")
    request = make_request(session, citizen, service_type_slug="hospital-discharge")
    make_case(session, request, "region-1082", assignment_index=0)
    make_case(session, request, "municipality-751", assignment_index=1)
    worker = make_staff(session, "municipality-751")
    session.commit()
    plan = plans.start_plan(session, citizen, consent_to=["region-1082", "municipality-751"])
    plans.view_plan(session, worker, plan.id)
    plans.add_goal(session, worker, plan.id, {"title": "Gå 1 km", "measure": "Meter", "baseline": "100",
                                              "target_value": "1000", "due_on": "2027-03-01", "agreed_by": "Ane"})
    login(citizen)
    html = client.get("/mine/privacy/").get_data(as_text=True)
    assert "Åbnede din plan" in html and "Ændrede din plan" in html
    assert "Ændrede din sag" not in html
