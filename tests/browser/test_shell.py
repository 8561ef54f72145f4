"""The page shell in a real browser: language switch, skip link, accessibility."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, session_cookie
from tests.factories import make_citizen

pytestmark = pytest.mark.browser


def test_front_page_is_accessible_in_both_languages_and_switches_without_js(live_server, nojs_page):
    page = nojs_page
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "da"
    assert page.locator("h1").inner_text() == "Én indgang til den offentlige sektor"
    page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "One entrance to the public sector"


@pytest.mark.parametrize("language", ["Dansk", "English"])
def test_front_and_error_pages_pass_axe(live_server, page, language):
    page.goto(live_server.url + "/")
    if language == "English":
        page.get_by_role("button", name="English").click()
    assert_accessible(page)
    page.goto(live_server.url + "/no-such-page")
    assert_accessible(page)


def test_skip_link_moves_focus_to_main(live_server, page):
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == "#main"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_a_warning_comes_before_the_idle_limit_and_staying_keeps_the_session(browser, live_server_factory):
    """WCAG 2.2.1 Timing adjustable: with an idle limit of 8 s the warning shows after
    4 s with focus on "Stay logged in"; staying keeps the session past the first
    limit; left alone, the page says the session has ended, and it has."""
    server = live_server_factory(SESSION_IDLE_TIMEOUT=timedelta(seconds=8))
    with server.session() as s:
        citizen = make_citizen(s)
        s.commit()
        citizen_id = citizen.id
    context = browser.new_context(locale="da-DK")
    context.add_cookies([session_cookie(server, citizen_id)])
    page = context.new_page()
    page.goto(server.url + "/mine")
    warning = page.locator("#session-warning")
    expect(warning).to_be_hidden()
    stay = page.get_by_role("button", name="Bliv logget ind")
    expect(warning).to_be_visible(timeout=8_000)
    expect(stay).to_be_focused()
    assert_accessible(page)
    stay.click()
    expect(warning).to_be_hidden()
    page.wait_for_timeout(5_000)  # more than 8 s since the page was loaded
    page.goto(server.url + "/mine")
    assert "/login" not in page.url and page.locator("h1").count() == 1
    expect(warning).to_contain_text("Du er blevet logget ud", timeout=12_000)
    expect(stay).to_be_hidden()
    page.goto(server.url + "/mine")
    assert "/login" in page.url
    context.close()
