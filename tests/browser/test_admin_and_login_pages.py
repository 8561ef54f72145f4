"""axe-core on the pages the other browser tests do not reach: the administrators'
failed jobs and unroutable requests (with a row each), and the login's failure and
cancellation pages, in both languages."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from rq import Queue, SimpleWorker

from portal.models import RequestStatus
from portal.redis_conn import get_redis
from tests.browser.conftest import assert_accessible
from tests.browser.test_admin_rules import _log_in_admin
from tests.factories import make_citizen, make_request

pytestmark = pytest.mark.browser


def _switch_language(page, language: str) -> None:
    if language == "English":
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.parametrize("language", ["Dansk", "English"])
def test_failed_jobs_and_unroutable_requests_pages_pass_axe(live_server, browser, language):
    app = live_server.app
    with app.app_context():
        redis = get_redis(app)
        job = Queue("default", connection=redis).enqueue("builtins.int", "not a number")
        SimpleWorker(["default"], connection=redis).work(burst=True)
    with live_server.session() as session:
        request = make_request(session, make_citizen(session), status=RequestStatus.UNROUTABLE)
        session.commit()
        reference, request_id = request.reference, request.id
    context = browser.new_context(locale="da-DK")
    try:
        _log_in_admin(live_server, context)
        page = context.new_page()
        page.goto(live_server.url + "/admin/jobs/failed")
        _switch_language(page, language)
        expect(page.locator("code", has_text=job.id)).to_be_visible()
        assert_accessible(page)
        page.goto(live_server.url + "/admin/requests/unroutable")
        expect(page.get_by_role("cell", name=reference, exact=True)).to_be_visible()
        assert_accessible(page)
        # Routing it by hand: the form, its error state, and the list afterwards.
        page.locator(f"a[href$='/requests/{request_id}/route']").click()
        expect(page.locator("h1")).to_contain_text(reference)
        assert_accessible(page)
        page.locator("form[action$='/route'] button[type=submit]").click()
        expect(page.locator(".error-summary")).to_be_focused()
        expect(page).to_have_title(re.compile(r"^(Fejl|Error):"))
        assert_accessible(page)
        page.select_option("#authority", "municipality-461")
        page.fill("#reason", "Borgeren bor i Odense.")
        page.locator("form[action$='/route'] button[type=submit]").click()
        expect(page.locator(".notices")).to_contain_text(f"{reference}-1")
        assert_accessible(page)
    finally:
        context.close()


@pytest.mark.parametrize("language", ["Dansk", "English"])
def test_login_failure_and_cancellation_pages_pass_axe(live_server, browser, language):
    context = browser.new_context(locale="da-DK")
    try:
        page = context.new_page()
        page.goto(live_server.url + "/")
        _switch_language(page, language)
        # A callback nobody started: the failure page (400).
        response = page.goto(live_server.url + "/auth/callback/dev?state=forged&code=x")
        assert response.status == 400
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert_accessible(page)
        # The citizen cancels at the provider: the cancellation page. The pending
        # login is put in the browser's own session, as /auth/login would.
        app = live_server.app
        cookie = next(c for c in context.cookies() if c["name"] == app.config["SESSION_COOKIE_NAME"])
        client = app.test_client()
        client.set_cookie(cookie["name"], cookie["value"])
        with client.session_transaction() as sess:
            sess["oidc_pending"] = {"s1": {"provider": "dev", "nonce": "n", "verifier": "v", "redirect_uri": "",
                                           "next": None, "at": time.time()}}
        response = page.goto(live_server.url + "/auth/callback/dev?state=s1&error=access_denied")
        assert response.status == 200
        expect(page.locator("html")).to_have_attribute("lang", "en" if language == "English" else "da")
        assert_accessible(page)
    finally:
        context.close()


@pytest.mark.parametrize("language", ["Dansk", "English"])
def test_default_rules_and_a_simulation_pass_axe(live_server, browser, language):
    english = language == "English"
    context = browser.new_context(locale="da-DK")
    try:
        _log_in_admin(live_server, context)
        page = context.new_page()
        page.goto(live_server.url + "/admin/rules/default")
        _switch_language(page, language)
        expect(page.locator("pre, textarea").first).to_be_visible()
        assert_accessible(page)
        page.goto(live_server.url + "/admin/rules")
        page.get_by_role("link", name="New draft" if english else "Ny kladde").click()
        page.get_by_role("button", name="Save draft" if english else "Gem kladde").click()
        page.get_by_label("Replay requests filed since" if english else "Afspil henvendelser indgivet siden").fill(
            "2020-01-01")
        page.get_by_role("button", name="Simulate" if english else "Simulér").click()
        expect(page.locator("#result h3")).to_contain_text("2020-01-01")
        assert_accessible(page)
    finally:
        context.close()


@pytest.mark.parametrize("language", ["Dansk", "English"])
def test_who_has_seen_my_data_passes_axe(live_server, browser, language):
    from portal.services import cases
    from tests.browser.conftest import session_cookie
    from tests.factories import make_staff

    with live_server.session() as session:
        citizen = make_citizen(session)
        request = make_request(session, citizen)
        session.commit()
        case = cases.route_request(session, request.id)[0]
        cases.view_case(session, make_staff(session, case.authority_id), case.id)
        citizen_id, reference = citizen.id, case.reference
    context = browser.new_context(locale="da-DK")
    try:
        context.add_cookies([session_cookie(live_server, citizen_id)])
        page = context.new_page()
        page.goto(live_server.url + "/mine/privacy/")
        _switch_language(page, language)
        expect(page.get_by_text(reference).first).to_be_visible()
        assert_accessible(page)
    finally:
        context.close()
