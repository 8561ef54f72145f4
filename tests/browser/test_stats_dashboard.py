"""A coordinator in a real browser: dashboard, filter to one region, drill down from
a bar to the cases behind it; axe-core finds nothing on any statistics page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.models import Role
from portal.services import stats
from tests import factories
from tests.browser.conftest import assert_accessible, session_cookie
from tests.stats import history as h
from tests.stats.test_stats_service import insert_history

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(live_server):
    """The hand-made history in the served app's database, and a coordinator of Odense."""
    session = live_server.session()
    try:
        rows = insert_history(session)
        coordinator = factories.make_staff(session, authority_id=h.M461, role=Role.COORDINATOR)
        session.commit()
        stats.refresh(session, as_of=h.AS_OF)
        admin = factories.make_staff(session, authority_id=h.M101, role=Role.ADMINISTRATOR)
        stats.create_target(session, admin, measure="handover_within", threshold_percent=90, within_days=2,
                            due_on=h.TODAY.replace(year=2027), authority_id=None, service_type=None)
        return {"coordinator_id": coordinator.id, "references": {k: v.reference for k, v in rows.items()}}
    finally:
        session.close()


def log_in(page, live_server, user_id: int) -> None:
    """Give the browser the signed session cookie a login would have set."""
    page.context.add_cookies([session_cookie(live_server, user_id)])


@pytest.mark.parametrize("language", ["da", "en"])
def test_coordinator_filters_to_a_region_and_drills_down(live_server, page, seeded, language):
    log_in(page, live_server, seeded["coordinator_id"])
    page.goto(live_server.url + "/stats/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    assert_accessible(page)
    page.locator("#f-region").select_option("region-1083")  # Region Syddanmark
    with page.expect_response(lambda r: "/stats/?" in r.url and r.request.headers.get("hx-request") == "true"):
        page.locator("form.filters button[type=submit]").click()
    page.wait_for_url("**region=region-1083**")  # htmx pushed the filtered address
    assert page.evaluate("document.activeElement.id") == "results-heading"
    assert_accessible(page)
    # The one period bar: 5 cases in Region Syddanmark in November 2026 (not A, at the state).
    bar = page.locator("#stats-results svg a").first
    assert "5" in bar.get_attribute("aria-label")
    bar.click()
    page.wait_for_url("**/stats/cases?**")
    assert "region=region-1083" in page.url and "period=2026-11-01" in page.url
    cells = page.locator("tbody tr td:first-child").all_inner_texts()
    refs = seeded["references"]
    assert cells[0].startswith(refs[4])  # the stuck case first
    assert {c.split()[0] for c in cells} == {refs[2], refs[3], refs[4], refs[5]}  # Odense's only
    assert_accessible(page)


@pytest.mark.parametrize("path", ["/stats/benchmark", "/stats/targets", "/stats/handovers", "/stats/rules", "/results"])
@pytest.mark.parametrize("language", ["da", "en"])
def test_statistics_pages_pass_axe(live_server, page, seeded, path, language):
    log_in(page, live_server, seeded["coordinator_id"])
    page.goto(live_server.url + path)
    if language == "en":
        page.get_by_role("button", name="English").click()
    assert_accessible(page)


def test_filters_and_target_errors_work_without_javascript(live_server, nojs_page, seeded):
    page = nojs_page
    log_in(page, live_server, seeded["coordinator_id"])
    page.goto(live_server.url + "/stats/")
    page.locator("#f-region").select_option("region-1084")
    page.locator("form.filters button[type=submit]").click()
    assert "region=region-1084" in page.url
    assert page.locator("#f-region").input_value() == "region-1084"
    page.goto(live_server.url + "/stats/targets")
    page.get_by_role("button", name="Gem målet").click()
    assert page.title().startswith("Fejl:")
    assert page.locator(".error-summary a").count() >= 3


def test_target_form_error_state_passes_axe(live_server, page, seeded):
    log_in(page, live_server, seeded["coordinator_id"])
    page.goto(live_server.url + "/stats/targets")
    page.get_by_role("button", name="Gem målet").click()
    assert page.title().startswith("Fejl:")
    # Focus moves once the deferred script has run after DOMContentLoaded. (Playwright's
    # own assertion: a wait_for_function string is eval'ed while polling, which the
    # page's CSP rightly refuses.)
    expect(page.locator(".error-summary")).to_be_focused(timeout=5000)
    assert_accessible(page)
