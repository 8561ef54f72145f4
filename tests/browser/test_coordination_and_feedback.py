"""In Chromium: a citizen whose hospital-discharge request routes to the region and the
municipality is offered a coordinated assessment, accepts, and sees the proposed plan.
The new pages (offer, receipt with an instant decision, survey, caseworker's decision
block and review list, figures) are axe-clean in Danish and English."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal import jobs
from portal.models import Case, Role
from portal.services.outbox import add_job
from tests.browser.conftest import assert_accessible
from tests.factories import make_citizen, make_request, make_staff

pytestmark = pytest.mark.browser

TEXT = {
    "da": {"offer": "Læs om en koordineret udredning", "accept": "Ja, start en koordineret udredning",
           "lead": "har ansvaret for udredningen", "granted": "Din ansøgning er bevilget.",
           "survey": "Hvordan gik det?", "send": "Send svar", "error": "Fejl:",
           "odense": "Odense Kommune", "checking": "Vi undersøger, om din ansøgning kan afgøres", "region": "Region Syddanmark", "goal": "Klare mig selv derhjemme"},
    "en": {"offer": "Read about a coordinated assessment", "accept": "Yes, start a coordinated assessment",
           "lead": "leads the assessment", "granted": "Your request has been granted.",
           "survey": "How did it go?", "send": "Send answers", "error": "Error:",
           "odense": "Odense Municipality", "checking": "We are checking whether your request can be decided", "region": "Region of Southern Denmark", "goal": "Manage on my own at home"},
}


def _log_in(live, page, user_id: int) -> None:
    client = live.app.test_client()
    with client.session_transaction() as sess:
        sess["user_id"] = user_id
    cookie = client.get_cookie(live.app.config["SESSION_COOKIE_NAME"])
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live.url}])


def _file(live, service: str, answers: dict) -> tuple[int, int]:
    """File a request as the citizen filing flow does: the request and its outbox row."""
    with live.session() as session:
        citizen = make_citizen(session, municipality_code="461", birth_date=date(1970, 3, 1))
        request = make_request(session, citizen, service_type_slug=service, answers=answers)
        add_job(session, jobs.route_request, request_id=request.id)
        session.commit()
        return citizen.id, request.id


def _run_worker(live) -> None:
    """What the worker does in production: relay the outbox, then run the jobs."""
    from rq import SimpleWorker

    from portal.redis_conn import get_redis
    from portal.services.outbox import relay

    with live.app.app_context():
        redis = get_redis(live.app)
        with live.session() as session:
            relay(session, redis)
        SimpleWorker(["default"], connection=redis).work(burst=True)


def _file_and_route(live, service: str, answers: dict) -> tuple[int, int]:
    ids = _file(live, service, answers)
    _run_worker(live)
    return ids


def _language(page, language: str) -> None:
    if language == "en":
        page.get_by_role("button", name="English").click()


@pytest.mark.parametrize("language", ["da", "en"])
def test_a_citizen_routed_to_two_authorities_accepts_a_coordinated_assessment_and_sees_the_plan(
        live_server, page, language):
    t = TEXT[language]
    citizen_id, request_id = _file_and_route(live_server, "hospital-discharge",
                                             {"discharged_on": "2026-11-20", "hospital_name": "OUH"})
    _log_in(live_server, page, citizen_id)
    page.goto(live_server.url + f"/ansoegninger/{request_id}")
    _language(page, language)
    expect(page.get_by_role("link", name=t["offer"])).to_be_visible()
    assert_accessible(page)
    page.goto(live_server.url + "/mine")
    assert_accessible(page)
    page.get_by_role("link", name=t["offer"]).click()
    main = page.locator("main").inner_text()
    assert t["odense"] in main and t["lead"] in main and t["region"] in main
    assert_accessible(page)
    # Consent is asked for each authority and nothing is ticked in advance; consent
    # that leaves out the lead is refused.
    boxes = page.locator("input[name=consent]")
    assert boxes.count() >= 2 and all(not boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.locator("input[name=consent]:not(#consent-municipality-461)").first.check()
    page.get_by_role("button", name=t["accept"]).click()
    assert page.title().startswith(t["error"])
    assert_accessible(page)
    page.locator("#consent-municipality-461").check()
    page.locator("#meeting").check()
    page.get_by_role("button", name=t["accept"]).click()
    # The proposed plan, led by the municipality, from the hospital-discharge template.
    page.wait_for_url("**/plans/*")
    expect(page.locator("main")).to_contain_text(t["goal"])
    assert_accessible(page)


@pytest.mark.parametrize("language", ["da", "en"])
def test_an_instant_decision_the_survey_and_the_caseworker_pages_are_accessible(live_server, page, language):
    t = TEXT[language]
    citizen_id, request_id = _file(live_server, "housing-benefit",
                                   {"rent": 5000, "adults": 1, "moved_in_on": "2025-01-01"})
    _log_in(live_server, page, citizen_id)
    page.goto(live_server.url + f"/ansoegninger/{request_id}")
    _language(page, language)
    decision = page.locator("#instant-decision")
    expect(decision).to_contain_text(t["checking"])
    assert_accessible(page)
    # The worker routes and decides; htmx brings the decision to the open page.
    _run_worker(live_server)
    expect(decision).to_contain_text(t["granted"], timeout=10_000)
    expect(decision).to_contain_text("Ankestyrelsen")
    assert_accessible(page)
    page.goto(live_server.url + "/mine")
    page.locator("a[href*='/survey']").first.click()
    assert page.locator("h1").inner_text() == t["survey"]
    assert_accessible(page)
    page.get_by_role("button", name=t["send"]).click()  # nothing answered: an error
    assert page.title().startswith(t["error"])
    assert_accessible(page)
    page.locator("#satisfaction-5").check()
    page.get_by_role("button", name=t["send"]).click()
    page.wait_for_url("**/mine")
    # The caseworker at Udbetaling Danmark: the decision block and the review list.
    with live_server.session() as session:
        worker = make_staff(session, authority_id="state-udbetaling-danmark", role=Role.CASEWORKER)
        coordinator = make_staff(session, authority_id="municipality-461", role=Role.COORDINATOR)
        case_id = session.scalar(select(Case.id).where(Case.request_id == request_id))
        session.commit()
        worker_id, coordinator_id = worker.id, coordinator.id
    page.context.clear_cookies()
    _log_in(live_server, page, worker_id)
    page.goto(live_server.url + f"/cases/{case_id}")
    _language(page, language)
    assert page.locator("#decision-rules-heading").is_visible()
    assert_accessible(page)
    page.goto(live_server.url + "/cases/instant-decisions")
    assert_accessible(page)
    page.context.clear_cookies()
    _log_in(live_server, page, coordinator_id)
    page.goto(live_server.url + "/stats/")
    _language(page, language)
    assert page.locator("#satisfaction-table").is_visible()
    assert_accessible(page)
    page.goto(live_server.url + "/results")
    assert_accessible(page)
