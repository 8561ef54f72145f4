"""The language a person chooses is saved on them at login, and follows them to
another browser; the next person on a shared browser gets their own."""

from __future__ import annotations

import requests
from sqlalchemy import select

from portal.models import User
from tests.support.oidc import csrf_from

KAREN_SUB = "7c1e4a52-3f0e-4d1b-9a57-0b2d61f0a461"


def _choose(stack, browser, locale: str, page: str = "/"):
    html = browser.get(stack.portal.url + page, timeout=10).text
    r = browser.post(f"{stack.portal.url}/language", timeout=10,
                     data={"locale": locale, "next": page, "csrf_token": csrf_from(html)})
    assert r.status_code == 200 and f'<html lang="{locale}">' in r.text
    return r


def test_a_language_chosen_before_login_becomes_the_persons_own(stack):
    browser = requests.Session()
    browser.headers["Accept-Language"] = "da"
    _choose(stack, browser, "en")
    _, answer = stack.login("karen-odense", browser=browser)
    assert '<html lang="en">' in answer.text
    with stack.db() as s:
        assert s.scalar(select(User.locale).where(User.subject == KAREN_SUB)) == "en"
    assert [r.details for r in stack.audit_rows("account.locale_changed")] == [{"from": "da", "to": "en"}]


def test_the_saved_language_follows_the_person_to_another_browser(stack):
    first, _ = stack.login("karen-odense")
    _choose(stack, first, "en", "/mine")
    with stack.db() as s:
        assert s.scalar(select(User.locale).where(User.subject == KAREN_SUB)) == "en"
    other = requests.Session()
    other.headers["Accept-Language"] = "da"  # the new device would show Danish
    _, answer = stack.login("karen-odense", browser=other)
    assert '<html lang="en">' in answer.text


def test_the_next_person_on_a_shared_browser_gets_their_own_language(stack):
    browser, _ = stack.login("karen-odense")
    _choose(stack, browser, "en", "/mine")
    stack.logout(browser)
    _, answer = stack.login("mads-aarhus", browser=browser)
    assert '<html lang="da">' in answer.text
    assert [r.details for r in stack.audit_rows("account.locale_changed")] == [{"from": "da", "to": "en"}]
