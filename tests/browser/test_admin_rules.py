"""Rule-set administration in a real browser: accessible in every state, with and
without JavaScript."""

from __future__ import annotations

import pytest

from portal.models import Role
from tests.browser.conftest import assert_accessible
from tests.factories import make_staff

pytestmark = pytest.mark.browser


def _log_in_admin(live_server, context) -> None:
    """Give the browser a logged-in administrator's session cookie, made through the
    app's own session interface (whatever it stores sessions in)."""
    app = live_server.app
    session = live_server.session()
    try:
        admin = make_staff(session, role=Role.ADMINISTRATOR, name="Ada Admin")
        session.commit()
        admin_id = admin.id
    finally:
        session.close()
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["user_id"] = admin_id
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_draft_validate_and_error_states_work_and_pass_axe(live_server, browser, javascript):
    context = browser.new_context(locale="da-DK", java_script_enabled=javascript)
    page = context.new_page()
    # axe-core runs as JavaScript in the page: without JavaScript, check the flow only.
    check = assert_accessible if javascript else (lambda _page: None)
    try:
        _log_in_admin(live_server, context)
        page.goto(live_server.url + "/admin/rules")
        assert page.locator("h1").inner_text() == "Fordelingsregler"
        check(page)

        page.get_by_role("link", name="Ny kladde").click()
        check(page)
        # A broken draft: the error summary names the line and keeps the text.
        source = page.locator("#source")
        source.fill(source.input_value().replace("priority: 20", "priority: high", 1))
        page.get_by_role("button", name="Gem kladde").click()
        assert page.title().startswith("Fejl: ")
        assert "priority" in page.locator(".error-summary").inner_text()
        check(page)

        source = page.locator("#source")
        source.fill(source.input_value().replace("priority: high", "priority: 20", 1))
        page.get_by_role("button", name="Gem kladde").click()
        assert page.locator("h1").inner_text() == "Regelsæt version 2"
        check(page)

        page.get_by_label("Kontroldato").fill("2027-01-01")
        page.get_by_role("button", name="Kontrollér").click()
        heading = page.locator("#result h3").first
        heading.wait_for()
        assert heading.inner_text() == "2027-01-01: ingen huller eller konflikter"
        if javascript:
            assert page.locator("h1").count() == 1  # swapped in place, not a new page
        check(page)
    finally:
        context.close()
