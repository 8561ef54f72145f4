"""The page shell in a real browser: language switch, skip link, accessibility."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible

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
