"""Server-side sessions: cookie flags, id rotation, logout, replay, timeouts, refusals."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests

from portal.models import AuditOutcome

COOKIE = "indgang_session"


def _set_cookie_headers(response) -> list[str]:
    headers = []
    for r in [*response.history, response]:
        headers += [v for k, v in r.raw.headers.items() if k.lower() == "set-cookie"]
    return headers


def test_session_cookie_flags_and_rotation_at_login(stack):
    browser = requests.Session()
    # Before login the visitor already has a session (the pending login lives in it).
    start = browser.get(f"{stack.portal.url}/auth/login/dev", allow_redirects=False, timeout=10)
    before = browser.cookies.get(COOKIE)
    assert before
    page_cookie = next(h for h in _set_cookie_headers(start) if h.startswith(COOKIE + "="))
    attrs = [a.strip().lower() for a in page_cookie.split(";")]
    assert "httponly" in attrs
    assert "samesite=lax" in attrs
    assert not any(a.startswith("domain=") for a in attrs)
    assert "secure" not in attrs  # local test server over http

    browser, answer = stack.login("karen-odense", browser=browser)
    after = browser.cookies.get(COOKIE)
    assert urlparse(answer.url).path == "/mine"
    assert after and after != before
    # The pre-login id is dead: presenting it again gets no session.
    replay = requests.get(f"{stack.portal.url}/mine", cookies={COOKIE: before}, timeout=10)
    assert urlparse(replay.url).path == "/login"


def test_cookie_is_secure_outside_development(stack_factory):
    from portal.config import load_config

    production = load_config({"INDGANG_ENV": "production", "SECRET_KEY": "x" * 32,
                              "DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r"})
    assert production["SESSION_COOKIE_SECURE"] is True
    stack = stack_factory(portal_overrides={"SESSION_COOKIE_SECURE": True})
    r = requests.get(f"{stack.portal.url}/auth/login/dev", allow_redirects=False, timeout=10)
    cookie = next(h for h in _set_cookie_headers(r) if h.startswith(COOKIE + "="))
    assert "secure" in [a.strip().lower() for a in cookie.split(";")]


def test_session_data_lives_in_redis_not_in_the_cookie(stack):
    import redis

    browser, _ = stack.login("karen-odense")
    sid = browser.cookies.get(COOKIE)
    assert "." not in sid and len(sid) >= 40  # an opaque id, not a signed payload
    r = redis.Redis.from_url(stack.portal_app.config["REDIS_URL"])
    assert r.exists(stack.portal_app.config["SESSION_KEY_PREFIX"] + sid)


def test_logout_ends_local_session_then_goes_to_the_provider(stack):
    from tests.support.oidc import csrf_from

    browser, _ = stack.login("karen-odense")
    old_cookie = browser.cookies.get(COOKIE)
    page = browser.get(f"{stack.portal.url}/mine", timeout=10)
    r = browser.post(f"{stack.portal.url}/auth/logout",
                     data={"csrf_token": csrf_from(page.text)}, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    location = r.headers["Location"]
    assert location.startswith(stack.idp.url + "/logout?")
    query = parse_qs(urlparse(location).query)
    assert query["post_logout_redirect_uri"] == [f"{stack.portal.url}/auth/logged-out"]
    assert query["id_token_hint"][0].count(".") == 2
    # The local session is already gone before the provider is even asked.
    replay = requests.get(f"{stack.portal.url}/mine", cookies={COOKIE: old_cookie}, timeout=10)
    assert urlparse(replay.url).path == "/login"
    # The provider ends its session and sends the browser back to the portal.
    done = browser.get(location, timeout=10)
    assert done.url == f"{stack.portal.url}/auth/logged-out"
    assert [row.details for row in stack.audit_rows("logout")][0] == {"how": "user"}


def test_logout_without_csrf_token_is_refused(stack):
    browser, _ = stack.login("karen-odense")
    r = browser.post(f"{stack.portal.url}/auth/logout", allow_redirects=False, timeout=10)
    assert r.status_code == 400
    assert urlparse(browser.get(f"{stack.portal.url}/mine", timeout=10).url).path == "/mine"


def test_idle_timeout_after_30_minutes(stack):
    browser, _ = stack.login("karen-odense")
    stack.clock.advance(29 * 60)
    assert urlparse(browser.get(f"{stack.portal.url}/mine", timeout=10).url).path == "/mine"
    stack.clock.advance(29 * 60)  # active 29 minutes ago: still fine
    assert urlparse(browser.get(f"{stack.portal.url}/mine", timeout=10).url).path == "/mine"
    stack.clock.advance(31 * 60)
    r = browser.get(f"{stack.portal.url}/mine", timeout=10)
    assert urlparse(r.url).path == "/login"
    assert "Din session er slut" in r.text  # told why, in Danish by default
    assert [row.details for row in stack.audit_rows("logout")] == [{"how": "timeout"}]


def test_absolute_timeout_after_12_hours_of_activity(stack):
    browser, _ = stack.login("karen-odense")
    for _ in range(12 * 3 - 1):  # every 20 minutes for 11 h 40 min
        stack.clock.advance(20 * 60)
        assert urlparse(browser.get(f"{stack.portal.url}/mine", timeout=10).url).path == "/mine"
    stack.clock.advance(21 * 60)  # 12 h 1 min after login
    assert urlparse(browser.get(f"{stack.portal.url}/mine", timeout=10).url).path == "/login"


@pytest.mark.parametrize(("person", "reason", "text"), [
    ("jonas-low", "loa_too_low", "Substantial"),
    ("sofie-no-municipality", "municipality_missing", "municipality"),
    ("anton-christiansoe", "municipality_unknown", "98"),
])
def test_citizen_refused_with_a_clear_page(stack, person, reason, text):
    browser, answer = stack.login(person)
    assert answer.status_code == 403
    assert f'data-reason="{reason}"' in answer.text
    assert text in answer.text
    assert "<title>Fejl: " in answer.text or "<title>Error: " in answer.text
    assert urlparse(browser.get(f"{stack.portal.url}/mine", timeout=10).url).path == "/login"
    row = stack.audit_rows("login_refused")[-1]
    assert row.outcome is AuditOutcome.DENY and row.details["reason"] == reason


def test_high_assurance_is_accepted(stack):
    browser, answer = stack.login("fatima-koebenhavn")
    assert urlparse(answer.url).path == "/mine"


def test_staff_without_known_authority_is_refused(stack_factory):
    stack = stack_factory(provider_overrides={"claims": {"authority": "name"}})
    browser, answer = stack.login("caseworker-odense")
    assert answer.status_code == 403
    assert stack.audit_rows("login_refused")[-1].details["reason"] == "authority_unknown"


def test_refusal_page_is_danish_by_default(stack):
    browser = requests.Session()
    browser.headers["Accept-Language"] = "da"
    _, answer = stack.login("jonas-low", browser=browser)
    assert '<html lang="da">' in answer.text
    assert "Substantial" in answer.text


def test_csp_lets_the_logout_form_reach_the_provider_only(stack):
    r = requests.get(f"{stack.portal.url}/", timeout=10)
    csp = r.headers["Content-Security-Policy"]
    assert f"form-action 'self' {stack.idp.url};" in csp + ";"
    assert "object-src 'none'" in csp


def test_public_pages_answer_when_the_session_store_is_down(_shared_database_url, tmp_path):
    from portal import create_app
    from tests.conftest import make_config

    app = create_app(make_config(_shared_database_url, "redis://127.0.0.1:1/0", tmp_path))
    client = app.test_client()
    client.set_cookie(COOKIE, "x" * 43)
    r = client.get("/")
    assert r.status_code == 200
    assert client.get("/login").status_code == 200
    app.extensions["db"].engine.dispose()


def test_rp_initiated_logout_is_audited_once(stack):
    browser, _ = stack.login("karen-odense")
    stack.logout(browser)  # the provider also sends a back-channel logout afterwards
    assert [row.details for row in stack.audit_rows("logout")] == [{"how": "user"}]


def _open(app, sid: str):
    """The session as one request of the browser holding ``sid`` sees it."""
    with app.test_request_context(headers={"Cookie": f"{COOKIE}={sid}"}):
        from flask import request

        return app.session_interface.open_session(app, request)


def _save(app, session):
    with app.test_request_context():
        response = app.response_class()
        app.session_interface.save_session(app, session, response)
        return response


def test_two_requests_of_one_session_at_once_keep_both_changes(app):
    """A language switch racing the favicon's request (which adds a CSRF token) kept
    only the last writer's whole session; now each writes only what it changed."""
    first = _open(app, "x" * 43)
    first["user_id"] = 7
    sid = first.sid
    _save(app, first)
    switch, favicon = _open(app, sid), _open(app, sid)  # both read before either writes
    switch["locale"] = "en"
    favicon["csrf_token"] = "t0ken"
    _save(app, switch)
    _save(app, favicon)
    assert dict(_open(app, sid)) == {"user_id": 7, "locale": "en", "csrf_token": "t0ken"}
    removing = _open(app, sid)
    del removing["csrf_token"]
    _save(app, removing)
    assert dict(_open(app, sid)) == {"user_id": 7, "locale": "en"}


def test_a_request_that_began_before_logout_cannot_write_the_login_back(app):
    login = _open(app, "y" * 43)
    login["user_id"] = 7
    sid = login.sid
    _save(app, login)
    poll = _open(app, sid)  # an htmx poll, read while still logged in
    logout = _open(app, sid)
    logout.clear()
    _save(app, logout)  # logging out deletes the stored session
    poll["_seen"] = 123.0  # the poll saves after the logout
    _save(app, poll)
    assert "user_id" not in _open(app, sid)
