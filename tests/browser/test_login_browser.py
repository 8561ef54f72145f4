"""A demo citizen logs in through the development provider in Chromium, and out again."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.auth.conftest import stack_factory  # noqa: F401 - fixture
from tests.browser.conftest import assert_accessible

pytestmark = pytest.mark.browser


def test_citizen_logs_in_lands_on_overview_logs_out_and_old_cookie_is_dead(
        stack_factory, browser):  # noqa: F811
    stack = stack_factory()
    context = browser.new_context(locale="da-DK")
    page = context.new_page()
    try:
        page.goto(stack.portal.url + "/login")
        assert_accessible(page)
        # The provider's button stands alone: no list bullet before it.
        assert page.locator(".provider-list li").first.evaluate(
            "li => getComputedStyle(li).listStyleType") == "none"
        page.get_by_role("link", name="Demo").click()
        page.wait_for_url(stack.idp.url + "/authorize*")

        # The provider's login page: demo people as buttons, accessible, in Danish.
        assert page.url.startswith(stack.idp.url + "/authorize")
        assert page.locator("html").get_attribute("lang") == "da"
        assert_accessible(page)
        page.get_by_role("button", name="Karen Holm Jensen").click()
        page.wait_for_url(stack.portal.url + "/mine")

        assert urlparse(page.url).path == "/mine"
        assert page.locator("h1").inner_text() == "Min oversigt"
        assert "Karen Holm Jensen" in page.content()
        assert_accessible(page)
        cookie = next(c for c in context.cookies() if c["name"] == "indgang_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

        page.get_by_role("button", name="Log ud").click()
        page.wait_for_url(stack.portal.url + "/auth/logged-out")
        assert page.url == f"{stack.portal.url}/auth/logged-out"
        assert page.locator("h1").inner_text() == "Du er logget ud"
        assert_accessible(page)

        # Replaying the old session cookie leads back to the login page.
        context.clear_cookies()
        context.add_cookies([{k: cookie[k] for k in
                              ("name", "value", "domain", "path", "httpOnly", "sameSite")}])
        page.goto(stack.portal.url + "/mine")
        assert urlparse(page.url).path == "/login"
    finally:
        context.close()


def test_provider_login_page_passes_axe_in_english(stack_factory, browser):  # noqa: F811
    stack = stack_factory()
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    try:
        page.goto(stack.portal.url + "/auth/login/dev")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("heading", name="Log in as a demo person").is_visible()
        assert_accessible(page)
        page.get_by_role("button", name="Jonas Lund").click()
        page.wait_for_url(stack.portal.url + "/auth/refused")
        assert page.locator("h1").inner_text() == "Your login is not secure enough"
        assert_accessible(page)
    finally:
        context.close()
