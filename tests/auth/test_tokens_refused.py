"""Every bad ID token and every bad logout token is refused, with an audit row."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from portal.idp.tokens import ID_TOKEN_FAULTS, LOGOUT_TOKEN_FAULTS
from portal.models import AuditOutcome, User

ID_TOKEN_REASONS = {
    "bad_signature": "bad_signature",
    "unknown_kid": "unknown_kid",
    "wrong_iss": "wrong_iss",
    "wrong_aud": "wrong_aud",
    "expired": "expired",
    "iat_future": "iat_in_future",
    "missing_nonce": "missing_nonce",
    "wrong_nonce": "wrong_nonce",
}
LOGOUT_TOKEN_REASONS = {
    "bad_signature": "bad_signature",
    "wrong_iss": "wrong_iss",
    "wrong_aud": "wrong_aud",
    "missing_sub": "missing_sub",
    "wrong_events": "wrong_events",
    "with_nonce": "nonce_present",
    "replayed_jti": "replayed_jti",
}
KAREN_SUB = "7c1e4a52-3f0e-4d1b-9a57-0b2d61f0a461"


def test_every_fault_of_the_switch_is_covered():
    assert set(ID_TOKEN_REASONS) == set(ID_TOKEN_FAULTS)
    assert set(LOGOUT_TOKEN_REASONS) == set(LOGOUT_TOKEN_FAULTS)


@pytest.mark.parametrize("fault", ID_TOKEN_FAULTS)
def test_bad_id_token_refuses_login_with_audit_row(stack, fault, caplog):
    stack.set_faults(id_token=fault)
    caplog.set_level(logging.INFO)
    browser, answer = stack.login("karen-odense")
    assert answer.status_code == 400
    assert urlparse(answer.url).path == "/auth/failed"  # a clean address, no ?code=&state=
    # No session: the overview sends the visitor to the login page.
    mine = browser.get(f"{stack.portal.url}/mine", timeout=10)
    assert urlparse(mine.url).path == "/login"
    with stack.db() as s:
        assert s.scalar(select(User).where(User.subject == KAREN_SUB)) is None
    row = stack.audit_rows("login_failed")[-1]
    assert row.outcome is AuditOutcome.DENY
    assert row.details == {"provider": "dev", "reason": ID_TOKEN_REASONS[fault]}
    assert stack.audit_rows("login") == []
    # Failed logins are logged by reason, never with a token or code.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("portal"))
    assert f"reason={ID_TOKEN_REASONS[fault]}" in logged
    assert "eyJ" not in logged and "code=" not in logged


def test_good_login_after_the_fault_is_cleared(stack):
    stack.set_faults(id_token="expired")
    stack.login("karen-odense")
    stack.set_faults()
    browser, answer = stack.login("karen-odense")
    assert urlparse(answer.url).path == "/mine"


def _logged_in(stack, person="karen-odense"):
    browser, answer = stack.login(person)
    assert urlparse(answer.url).path == "/mine"
    return browser


def _still_logged_in(stack, browser) -> bool:
    return urlparse(browser.get(f"{stack.portal.url}/mine", timeout=10).url).path == "/mine"


@pytest.mark.parametrize("fault", LOGOUT_TOKEN_FAULTS)
def test_bad_logout_token_gets_400_and_ends_nothing(stack, fault):
    browser = _logged_in(stack)
    if fault == "replayed_jti":
        # A good token first (it ends the session), then the same jti again.
        assert stack.post_logout_token(stack.logout_token(KAREN_SUB)).status_code == 200
        browser = _logged_in(stack)
    r = stack.post_logout_token(stack.logout_token(KAREN_SUB, fault=fault))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert _still_logged_in(stack, browser)
    row = stack.audit_rows("backchannel_logout_refused")[-1]
    assert row.outcome is AuditOutcome.DENY
    assert row.details["reason"] == LOGOUT_TOKEN_REASONS[fault]


def test_logout_token_for_another_client_is_refused(stack):
    browser = _logged_in(stack)
    r = stack.post_logout_token(stack.logout_token(KAREN_SUB, client_id="someone-else"))
    assert r.status_code == 400
    assert _still_logged_in(stack, browser)


def test_missing_logout_token_is_400(stack):
    import requests

    r = requests.post(f"{stack.portal.url}/auth/backchannel-logout/dev", data={}, timeout=10)
    assert r.status_code == 400


def test_valid_logout_token_ends_every_session_of_the_subject(stack):
    first = _logged_in(stack)
    second = _logged_in(stack)  # another browser, same person
    other = _logged_in(stack, "mads-aarhus")
    r = stack.post_logout_token(stack.logout_token(KAREN_SUB))
    assert r.status_code == 200
    assert r.json()["ended"] == 2
    assert not _still_logged_in(stack, first)
    assert not _still_logged_in(stack, second)
    assert _still_logged_in(stack, other)
    assert [row.details for row in stack.audit_rows("logout")] == [{"how": "backchannel"}]


def test_back_channel_logout_needs_only_the_session_store(stack_factory, redis_url):
    """The replayed-token check lives beside the sessions: with the queue's Redis down
    the logout still ends them."""
    from tests.support.net import free_port

    stack = stack_factory(portal_overrides={
        "SESSION_REDIS_URL": redis_url, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    browser = _logged_in(stack)
    r = stack.post_logout_token(stack.logout_token(KAREN_SUB))
    assert r.status_code == 200 and r.json()["ended"] == 1
    assert not _still_logged_in(stack, browser)


def test_logout_at_the_provider_ends_the_portal_sessions(stack):
    """The person logs out on the provider's own page: back-channel reaches the portal."""
    from tests.support.oidc import csrf_from

    browser = _logged_in(stack, "mads-aarhus")
    home = browser.get(f"{stack.idp.url}/", timeout=10)
    r = browser.post(f"{stack.idp.url}/session/end", data={"csrf_token": csrf_from(home.text)},
                     timeout=10)
    assert r.status_code == 200
    assert not _still_logged_in(stack, browser)
