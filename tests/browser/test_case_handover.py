"""A misrouted case in a real browser: Odense rejects it to Udbetaling Danmark with a
reason, a caseworker there accepts it, and the citizen sees the handover and the new
expected date. axe-core checks the inbox and case pages in both languages."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import Case, Handover
from portal.services import cases
from tests.browser.conftest import assert_accessible, session_cookie
from tests.factories import make_citizen, make_request, make_staff

pytestmark = pytest.mark.browser


def signed_in_page(browser, live_server, user_id: int, locale: str = "da-DK"):
    """A browser page whose session cookie logs ``user_id`` in (as the login area does
    after a successful identity-provider login)."""
    context = browser.new_context(locale=locale)
    context.add_cookies([session_cookie(live_server, user_id)])
    return context.new_page()


@pytest.fixture
def misrouted(live_server):
    with live_server.session() as s:
        citizen = make_citizen(s, locale="da")
        odense = make_staff(s, authority_id="municipality-461", name="Sagsbehandler Odense")
        udk = make_staff(s, authority_id="state-udbetaling-danmark", name="Sagsbehandler UDK")
        request = make_request(s, citizen, service_type_slug="deposit-loan",
                               answers={"description": "Jeg søger om hjælp til husleje <b>nu</b>"})
        s.commit()
        case = cases.route_request(s, request.id)[0]
        return {"citizen": citizen.id, "odense": odense.id, "udk": udk.id, "case": case.id,
                "reference": case.reference}


def test_reject_to_udbetaling_danmark_accept_there_and_the_citizen_sees_it(browser, live_server, misrouted):
    ids = misrouted
    # Odense's caseworker finds the case in the inbox and rejects it with a reason.
    page = signed_in_page(browser, live_server, ids["odense"])
    page.goto(live_server.url + "/cases/")
    assert_accessible(page)
    page.get_by_role("link", name=ids["reference"]).click()
    assert page.locator("h1").inner_text() == f"Sag {ids['reference']}"
    assert "<b>nu</b>" in page.locator("main").inner_text()  # citizen text shown escaped
    assert_accessible(page)
    page.get_by_role("button", name="Afvis og send videre").click()  # no reason: errors
    assert page.title().startswith("Fejl:")
    assert page.locator(".error-summary").is_visible()
    assert_accessible(page)
    page.get_by_label("Begrundelse", exact=True).first.fill("Boligstøtte hører under Udbetaling Danmark")
    page.get_by_label("Den myndighed, sagen hører til").select_option("state-udbetaling-danmark")
    page.get_by_role("button", name="Afvis og send videre").click()
    assert page.url.endswith("/cases/")
    assert ids["reference"] not in page.locator("#inbox-results").inner_text()
    page.context.close()

    # A caseworker at Udbetaling Danmark accepts it, in English.
    page = signed_in_page(browser, live_server, ids["udk"], locale="en-GB")
    page.goto(live_server.url + "/cases/")
    if page.locator("html").get_attribute("lang") == "da":
        page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert_accessible(page)
    page.get_by_label("Status").select_option("pending")  # htmx swaps the results in
    page.wait_for_url("**status=pending**")
    # The new count is read out through the live region that stays in the page.
    expect(page.locator("#announcer")).to_have_text(re.compile(r"^\d+ cases?$"))
    assert page.locator("#announcer").inner_text() == page.locator("[data-announce=inbox-count]").inner_text()
    assert page.locator("#announcer").get_attribute("role") == "status"
    page.get_by_role("link", name=ids["reference"]).click()
    assert "Boligstøtte hører under Udbetaling Danmark" in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_role("button", name="Accept the case").click()
    assert "The case is accepted." in page.locator(".notices").inner_text()
    page.context.close()

    with live_server.session() as s:
        handover = s.scalar(select(Handover).where(Handover.case_id == ids["case"]))
        case = s.get(Case, ids["case"])
        # The data coordinators compute from: the handover with both its times.
        assert handover.from_authority_id == "municipality-461"
        assert handover.to_authority_id == "state-udbetaling-danmark"
        assert handover.sent_at is not None and handover.accepted_at >= handover.sent_at
        expected = case.target_due.isoformat()

    # The citizen's case page (citizen area) shows the handover and the new expected date.
    from babel.dates import format_date

    page = signed_in_page(browser, live_server, ids["citizen"])
    page.goto(live_server.url + f"/mine/sager/{ids['case']}")
    main = page.locator("main").inner_text()
    assert "Ansvarlig myndighed\nUdbetaling Danmark" in main or "Ansvarlig myndighed\tUdbetaling Danmark" in main
    assert "Din sag blev sendt videre til Udbetaling Danmark, som behandler den." in main
    assert "Udbetaling Danmark har overtaget din sag." in main
    assert format_date(date.fromisoformat(expected), "long", locale="da") in main
    assert_accessible(page)

    # So does the citizen's data page (GDPR Art. 15), with the handover's times.
    page.goto(live_server.url + "/mine/privacy/data")
    assert page.locator(".case-authority").inner_text() == "Udbetaling Danmark"
    assert page.locator(".expected-by").inner_text() == format_date(date.fromisoformat(expected), "long", locale="da")
    handovers = page.locator("table.handovers").inner_text()
    assert "Odense" in handovers and "Udbetaling Danmark" in handovers
    assert_accessible(page)
    page.context.close()


def test_case_pages_work_without_javascript(browser, live_server, misrouted):
    ids = misrouted
    context = browser.new_context(locale="da-DK", java_script_enabled=False)
    context.add_cookies([session_cookie(live_server, ids["odense"])])
    page = context.new_page()
    page.goto(live_server.url + "/cases/")
    page.get_by_label("Status").select_option("pending")
    page.get_by_role("button", name="Vis sager").click()
    assert "status=pending" in page.url
    page.get_by_role("link", name=ids["reference"]).click()
    page.get_by_role("button", name="Modtag sagen").click()
    assert "Sagen er modtaget." in page.locator(".notices").inner_text()
    context.close()
