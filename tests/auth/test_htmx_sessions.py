"""Sessions and htmx: an htmx request without a session is sent to the login page
(not given it to swap in), and background polls do not keep an idle session alive."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal.models import AuditEntry
from tests.factories import make_citizen
from tests.support.oidc import Clock

# What the overview's polling element sends (templates/citizen/_overview_requests.html).
OVERVIEW_POLL = {"HX-Request": "true", "HX-Target": "my-requests", "HX-Trigger": "my-requests",
                 "X-Indgang-Poll": "my-requests", "HX-Current-URL": "http://localhost/mine"}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app_config(app_config, clock):
    return {**app_config, "CLOCK": clock}


def _login_target(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path == "/login", url
    return parse_qs(parts.query)["next"][0]


def _vary(response) -> set[str]:
    return {v.strip() for v in response.headers.get("Vary", "").split(",")}


@pytest.mark.parametrize(("path", "target", "page"), [
    ("/mine", "my-requests", "/mine"),
    ("/ansoegninger/1", "request-status", "/ansoegninger/1"),
    ("/plans/1/live?since=3", "plan-live", "/plans/1"),
    ("/cases/?status=pending", "inbox-results", "/cases/?status=pending&sort=age"),
])
def test_an_htmx_request_without_a_session_is_sent_to_login(client, path, target, page):
    r = client.get(path, headers={"HX-Request": "true", "HX-Target": target,
                                  "HX-Current-URL": f"http://localhost{page}"})
    assert r.status_code == 401
    assert _login_target(r.headers["HX-Redirect"]) == page  # back to the page, after login
    assert "Location" not in r.headers and r.get_data() == b""  # nothing for htmx to swap in
    assert "HX-Request" in _vary(r)


def test_a_plain_request_without_a_session_is_still_redirected(client):
    r = client.get("/cases/?status=pending")
    assert r.status_code == 302
    assert _login_target(r.headers["Location"]) == "/cases/?status=pending"
    assert "HX-Redirect" not in r.headers and "HX-Request" in _vary(r)


def test_an_htmx_request_from_another_site_returns_to_its_own_path(client):
    r = client.get("/mine", headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"})
    assert _login_target(r.headers["HX-Redirect"]) == "/mine"


def test_polls_do_not_keep_an_idle_session_alive(client, session, login, clock):
    login(make_citizen(session))
    assert client.get("/mine").status_code == 200  # the person opens the overview
    for _ in range(3):  # and leaves it open: it polls every few seconds for 27 minutes
        clock.advance(9 * 60)
        poll = client.get("/mine", headers=OVERVIEW_POLL)
        assert poll.status_code == 200 and "<html" not in poll.get_data(as_text=True)
    clock.advance(4 * 60)  # 31 minutes after the person last did something
    ended = client.get("/mine", headers=OVERVIEW_POLL)
    assert ended.status_code == 401 and _login_target(ended.headers["HX-Redirect"]) == "/mine"
    how = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "logout")).all()
    assert how == [{"how": "timeout"}]
    assert "Din session er slut" in client.get("/login").get_data(as_text=True)


def test_what_the_person_does_keeps_the_session_alive(client, session, login, clock):
    login(make_citizen(session))
    assert client.get("/mine").status_code == 200
    clock.advance(20 * 60)
    assert client.get("/mine").status_code == 200  # a click: a page load
    clock.advance(20 * 60)
    # An htmx request fired by something inside the polling element inherits its
    # header, but it was the person who fired it.
    click = client.get("/mine", headers={**OVERVIEW_POLL, "HX-Trigger": "a-button"})
    assert click.status_code == 200
    clock.advance(20 * 60)
    assert client.get("/mine", headers=OVERVIEW_POLL).status_code == 200


def test_the_warning_before_the_idle_limit_offers_to_stay_logged_in(client, session, login, clock):
    """WCAG 2.2.1: the page carries a (hidden) warning with the idle limit, and "Stay
    logged in" counts as activity, with and without htmx."""
    login(make_citizen(session))
    page = client.get("/mine").get_data(as_text=True)
    warning = re.search(r'<div id="session-warning"[^>]*>', page).group(0)
    assert 'data-idle-seconds="1800"' in warning and 'data-warn-seconds="120"' in warning and " hidden" in warning
    assert "Bliv logget ind" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    clock.advance(29 * 60)
    stayed = client.post("/auth/stay", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert stayed.status_code == 204
    clock.advance(29 * 60)
    back = client.post("/auth/stay", data={"csrf_token": token, "next": "/mine"})
    assert back.status_code == 303 and back.headers["Location"] == "/mine"
    clock.advance(29 * 60)
    assert client.get("/mine").status_code == 200  # 87 minutes in, never idle for 30
    assert client.post("/auth/stay", data={"next": "/mine"}).status_code == 400  # no CSRF token


def test_no_warning_for_someone_not_logged_in(client):
    assert 'id="session-warning"' not in client.get("/").get_data(as_text=True)
