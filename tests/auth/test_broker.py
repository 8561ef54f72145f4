"""Login through panva's oidc-provider (npm), set up like a MitID broker: code that is
not ours, configured only through the portal's documented settings."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import pytest
import requests
from sqlalchemy import select

from portal.auth.tokens import TokenRejected, merge_userinfo
from portal.models import Role, User
from tests.support.broker import NSIS, page_field

KAREN = "c2f1a8d0-broker-karen"


def _user(stack, sub=KAREN):
    with stack.db() as s:
        return s.scalar(select(User).where(User.subject == sub))


def _portal_logs(caplog) -> str:
    return "\n".join(f"{r.levelname} {r.getMessage()}" for r in caplog.records
                     if r.name.startswith("portal"))


def test_profile_claims_only_at_userinfo_reach_the_portal(broker_stack):
    browser, answer = broker_stack.login(KAREN)
    assert answer.status_code == 200, answer.text[:300]
    assert urlparse(answer.url).path == "/mine"
    user = _user(broker_stack)
    assert user.issuer == broker_stack.broker.issuer
    assert user.role is Role.CITIZEN
    # The broker puts name and the municipality code only at userinfo.
    assert user.name == "Karen Broker Jensen"
    assert user.municipality_code == "461"
    assert "Karen Broker Jensen" in answer.text


def test_the_authorize_request_asks_for_the_required_level(broker_stack):
    page = broker_stack.login_page(requests.Session())
    assert page_field(page.text, "acr_values") == NSIS + "Substantial"
    assert page_field(page.text, "requested_prompt") == ""


def test_a_level_set_per_provider_is_asked_for_and_required(broker_stack_factory):
    stack = broker_stack_factory(provider_overrides={"min_loa": NSIS + "High"})
    browser = requests.Session()
    page = stack.login_page(browser)
    assert page_field(page.text, "acr_values") == NSIS + "High"
    answer = stack.submit(browser, page, KAREN, loa="substantial")
    assert answer.status_code == 403
    assert 'data-reason="loa_too_low"' in answer.text


def test_too_low_level_is_refused_and_the_retry_makes_the_broker_ask_again(broker_stack, caplog):
    caplog.set_level(logging.INFO)
    browser, answer = broker_stack.login(KAREN, loa="low")
    assert answer.status_code == 403
    assert 'data-reason="loa_too_low"' in answer.text
    # The refusal is shown at a clean address, without the provider's code and state.
    assert answer.url == broker_stack.portal.url + "/auth/refused"
    assert "WARNING login refused: provider=broker error=- reason=loa_too_low" in _portal_logs(caplog)
    assert _user(broker_stack) is None
    # "Log in again": the broker must not reuse its session at the low level.
    again = browser.get(broker_stack.portal.url + "/auth/login/broker", timeout=10)
    assert urlparse(again.url).path.startswith("/interaction/"), again.url
    assert page_field(again.text, "requested_prompt") == "login"
    assert "login_prompt" in page_field(again.text, "reasons").split()
    answer = broker_stack.submit(browser, again, KAREN, loa="substantial")
    assert urlparse(answer.url).path == "/mine"
    assert _user(broker_stack).name == "Karen Broker Jensen"


def test_without_a_refusal_the_broker_session_is_reused(broker_stack):
    browser, answer = broker_stack.login(KAREN)
    assert urlparse(answer.url).path == "/mine"
    # No prompt=login: a second login goes straight through the broker's session.
    again = browser.get(broker_stack.portal.url + "/auth/login/broker", timeout=10)
    assert urlparse(again.url).path == "/mine"


def test_wrong_client_secret_is_logged_with_invalid_client(broker_stack_factory, caplog):
    stack = broker_stack_factory(provider_overrides={"client_secret": "not-the-secret"})
    caplog.set_level(logging.INFO)
    browser, answer = stack.login(KAREN)
    assert answer.status_code == 400
    assert answer.url == stack.portal.url + "/auth/failed"
    logged = _portal_logs(caplog)
    assert "WARNING login failed: provider=broker error=invalid_client reason=token_request_failed" in logged
    assert "not-the-secret" not in logged and "code=" not in logged and "eyJ" not in logged
    assert stack.audit_rows("login_failed")[-1].details == {"provider": "broker",
                                                              "reason": "token_request_failed"}


def test_rp_initiated_logout_ends_both_sessions(broker_stack):
    browser, answer = broker_stack.login(KAREN)
    assert urlparse(answer.url).path == "/mine"
    done = broker_stack.logout(browser)
    # The broker sends the citizen back to exactly BASE_URL/auth/logged-out.
    assert done.url == broker_stack.portal.url + "/auth/logged-out", done.url
    mine = browser.get(broker_stack.portal.url + "/mine", timeout=10)
    assert urlparse(mine.url).path == "/login"
    # Logged out at the broker too: the next login asks again.
    page = broker_stack.login_page(browser)
    assert page_field(page.text, "prompt") == "login"


def test_backchannel_logout_from_the_broker_ends_the_portal_session(broker_stack):
    browser, answer = broker_stack.login(KAREN)
    assert urlparse(answer.url).path == "/mine"
    # The citizen logs out at the broker itself (another service, say): the broker
    # tells the portal over the back channel.
    confirm = browser.get(broker_stack.broker.url + "/session/end", timeout=10)
    done = broker_stack.confirm_broker_logout(browser, confirm)
    assert done.status_code == 200
    assert "logged out at the broker" in done.text
    mine = browser.get(broker_stack.portal.url + "/mine", timeout=10)
    assert urlparse(mine.url).path == "/login"
    rows = broker_stack.audit_rows("logout")
    assert rows and rows[-1].details.get("how") == "backchannel"


def test_issuer_with_a_trailing_slash_says_what_is_wrong(broker_stack_factory, broker, caplog):
    caplog.set_level(logging.INFO)
    stack = broker_stack_factory(provider_overrides={"issuer": broker.issuer + "/"})
    r = requests.get(stack.portal.url + "/auth/login/broker", allow_redirects=False, timeout=10)
    assert r.status_code == 503
    assert 'data-reason="issuer_mismatch"' in r.text
    assert f"<code>{broker.issuer}/</code>" in r.text and f"<code>{broker.issuer}</code>" in r.text
    logged = _portal_logs(caplog)
    assert f"names issuer '{broker.issuer}', configured '{broker.issuer}/'" in logged
    assert "trailing slash" in logged
    assert "issuer None" not in logged
    assert "reason=issuer_mismatch" in logged


@pytest.mark.parametrize(("userinfo", "expected"), [
    (None, {"sub": "a", "acr": "x"}),
    ({"sub": "a", "name": "N", "acr": "y"}, {"sub": "a", "name": "N", "acr": "x"}),
])
def test_userinfo_is_merged_under_the_id_token(userinfo, expected):
    assert merge_userinfo({"sub": "a", "acr": "x"}, userinfo) == expected


@pytest.mark.parametrize("userinfo", [{"sub": "b", "name": "N"}, {"name": "N"}, ["sub"]])
def test_userinfo_for_another_subject_is_refused(userinfo):
    with pytest.raises(TokenRejected) as refused:
        merge_userinfo({"sub": "a"}, userinfo)
    assert refused.value.reason in ("userinfo_sub_mismatch", "userinfo_malformed")
