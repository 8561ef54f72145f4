"""axe-core on the pages the other browser tests do not reach: the administrators'
failed jobs and unroutable requests (with a row each), and the login's failure and
cancellation pages, in both languages."""

from __future__ import annotations

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
        reference = request.reference
    context = browser.new_context(locale="da-DK")
    try:
        _log_in_admin(live_server, context)
        page = context.new_page()
        page.goto(live_server.url + "/admin/jobs/failed")
        _switch_language(page, language)
        expect(page.locator("code", has_text=job.id)).to_be_visible()
        assert_accessible(page)
        page.goto(live_server.url + "/admin/requests/unroutable")
        expect(page.get_by_text(reference)).to_be_visible()
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
