"""The person lookup: which municipality a citizen lives in, asked at login. The HTTP
implementation is tested against a real residence-data server on loopback."""

from __future__ import annotations

import json
import logging
import time

import pytest
from sqlalchemy import select

from portal.auth.residence import (
    ClaimLookup,
    HttpLookup,
    LookupFailed,
    LookupMisconfigured,
    build_lookup,
)
from portal.models import User
from tests.support.live import LiveServer

KAREN = "c2f1a8d0-broker-karen"  # the broker says 461 (Odense)
OLE = "9b7e3c11-broker-ole"
TOKEN = "residence-test-token"  # noqa: S105
# What the residence register knows: Karen has moved to Aarhus (751).
REGISTER = {KAREN: "751", "person-int": 101, "person-bad": "Odense"}
SLOW = "person-slow"


def residence_app(environ, start_response):
    """A residence-data service: POST {"person_id"} -> {"municipality_code"} or 404."""
    if environ.get("HTTP_AUTHORIZATION") != f"Bearer {TOKEN}":
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b'{"error": "unauthorized"}']
    length = int(environ.get("CONTENT_LENGTH") or 0)
    person = json.loads(environ["wsgi.input"].read(length) or b"{}").get("person_id")
    if person == SLOW:
        time.sleep(1.5)
    if person == "person-broken":
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"down"]
    if person == "person-html":
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<html>maintenance</html>"]
    if person not in REGISTER and person != SLOW:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "unknown person"}']
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"municipality_code": REGISTER.get(person, "461")}).encode()]


@pytest.fixture
def residence_server():
    server = LiveServer().start(residence_app)
    yield server
    server.stop()


@pytest.fixture
def lookup(residence_server):
    return HttpLookup(url=residence_server.url + "/residence", timeout=0.5, token=TOKEN)


def test_http_lookup_answers_the_municipality_of_a_known_person(lookup):
    assert lookup.municipality_code(KAREN) == "751"
    assert lookup.municipality_code("person-int") == "101"


def test_http_lookup_says_none_for_a_person_it_does_not_know(lookup):
    assert lookup.municipality_code("nobody") is None
    assert lookup.municipality_code(None) is None


@pytest.mark.parametrize(("person", "reason"), [
    (SLOW, "residence_lookup_timeout"),
    ("person-broken", "residence_lookup_http_500"),
    ("person-html", "residence_lookup_malformed"),
    ("person-bad", "residence_lookup_malformed"),
])
def test_http_lookup_fails_clearly(lookup, person, reason):
    started = time.monotonic()
    with pytest.raises(LookupFailed) as failed:
        lookup.municipality_code(person)
    assert failed.value.reason == reason
    assert time.monotonic() - started < 1.4  # the timeout holds, not the slow server


def test_http_lookup_without_its_token_or_server_fails(residence_server):
    assert_fails = "residence_lookup_http_401"
    with pytest.raises(LookupFailed) as failed:
        HttpLookup(url=residence_server.url + "/residence").municipality_code(KAREN)
    assert failed.value.reason == assert_fails
    with pytest.raises(LookupFailed) as failed:
        HttpLookup(url="http://127.0.0.1:1/residence", token=TOKEN).municipality_code(KAREN)
    assert failed.value.reason == "residence_lookup_unreachable"


def test_the_claim_is_the_default_lookup():
    lookup = build_lookup({})
    assert isinstance(lookup, ClaimLookup)
    assert lookup.municipality_code("anyone", "461") == "461"
    assert lookup.municipality_code("anyone", 101) == "101"
    assert lookup.municipality_code("anyone", None) is None


@pytest.mark.parametrize("config", [
    {"RESIDENCE_LOOKUP": "cpr-register"},
    {"RESIDENCE_LOOKUP": "http"},
    {"RESIDENCE_LOOKUP": "http", "RESIDENCE_LOOKUP_URL": "http://x", "RESIDENCE_LOOKUP_TIMEOUT": "soon"},
    {"RESIDENCE_LOOKUP": "http", "RESIDENCE_LOOKUP_URL": "http://x", "RESIDENCE_LOOKUP_TIMEOUT": "0"},
])
def test_a_lookup_that_cannot_run_is_refused_at_start(config):
    with pytest.raises(LookupMisconfigured):
        build_lookup(config)


# --- at login, through the broker ---------------------------------------------------


@pytest.fixture
def lookup_stack(broker_stack_factory, residence_server):
    return broker_stack_factory(portal_overrides={
        "RESIDENCE_LOOKUP": "http", "RESIDENCE_LOOKUP_URL": residence_server.url + "/residence",
        "RESIDENCE_LOOKUP_TIMEOUT": "0.5", "RESIDENCE_LOOKUP_TOKEN": TOKEN,
    })


def test_login_takes_the_municipality_from_the_lookup(lookup_stack):
    browser, answer = lookup_stack.login(KAREN)
    assert answer.url == lookup_stack.portal.url + "/mine"
    with lookup_stack.db() as s:
        user = s.scalar(select(User).where(User.subject == KAREN))
        assert user.municipality_code == "751"  # the register, not the broker's claim


def test_a_person_the_lookup_does_not_know_is_told_so(lookup_stack):
    browser, answer = lookup_stack.login(OLE)
    assert answer.status_code == 403
    assert answer.url == lookup_stack.portal.url + "/auth/refused"
    assert 'data-reason="municipality_missing"' in answer.text


def test_a_lookup_that_times_out_gives_a_clear_page(lookup_stack, caplog):
    caplog.set_level(logging.INFO)
    browser, answer = lookup_stack.login(SLOW)  # the register answers this one too late
    assert answer.status_code == 503
    assert answer.url == lookup_stack.portal.url + "/auth/failed"
    assert 'data-reason="residence_lookup_timeout"' in answer.text
    logged = "\n".join(f"{r.levelname} {r.getMessage()}" for r in caplog.records if r.name.startswith("portal"))
    assert "WARNING login failed: provider=broker error=- reason=residence_lookup_timeout" in logged
    assert SLOW not in logged  # no person identifiers in the log
    with lookup_stack.db() as s:
        assert s.scalar(select(User).where(User.subject == SLOW)) is None
    assert lookup_stack.audit_rows("login_failed")[-1].details == {
        "provider": "broker", "reason": "residence_lookup_timeout"}
