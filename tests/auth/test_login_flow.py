"""The real code flow between the portal and the development provider."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from sqlalchemy import select

from portal.models import AuditOutcome, Role, User


def test_citizen_logs_in_and_lands_on_their_overview(stack):
    browser, answer = stack.login("karen-odense")
    assert answer.status_code == 200
    assert urlparse(answer.url).path == "/mine"
    assert "Karen Holm Jensen" in answer.text
    with stack.db() as s:
        user = s.scalar(select(User).where(User.subject == "7c1e4a52-3f0e-4d1b-9a57-0b2d61f0a461"))
        assert user.issuer == stack.idp.url
        assert user.role is Role.CITIZEN
        assert user.municipality_code == "461"
        assert user.birth_date == date(1948, 3, 14)  # the birthdate claim: age rules can be decided
    logins = stack.audit_rows("login")
    assert [(r.actor_id, r.outcome) for r in logins] == [(user.id, AuditOutcome.ALLOW)]


def test_authorize_request_has_state_nonce_and_pkce_s256(stack):
    r = requests.get(f"{stack.portal.url}/auth/login/dev", allow_redirects=False, timeout=10)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(stack.idp.url + "/authorize?")
    query = parse_qs(urlparse(location).query)
    assert query["response_type"] == ["code"]
    assert len(query["state"][0]) >= 20 and len(query["nonce"][0]) >= 20
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert "openid" in query["scope"][0].split()


def test_staff_login_maps_role_and_authority(stack):
    browser, answer = stack.login("caseworker-aarhus")
    assert answer.status_code == 200
    with stack.db() as s:
        user = s.scalar(select(User).where(User.name == "Camilla Rasmussen"))
        assert user.role is Role.CASEWORKER
        assert user.authority_id == "municipality-751"


def test_discovery_with_another_issuer_does_not_start_login(stack_factory):
    stack = stack_factory(provider_overrides={"issuer": "http://127.0.0.1:1/other"})
    # The metadata URL is built from the configured issuer; point it at the real
    # provider, whose discovery names its own issuer, not the configured one.
    oauth_client = stack.portal_app.extensions["oidc_oauth"].create_client("dev")
    oauth_client._server_metadata_url = stack.idp.url + "/.well-known/openid-configuration"
    r = requests.get(f"{stack.portal.url}/auth/login/dev", allow_redirects=False, timeout=10)
    assert r.status_code == 503
    assert "Location" not in r.headers
    rows = stack.audit_rows("login_failed")
    assert rows[-1].details == {"provider": "dev", "reason": "issuer_mismatch"}


def test_trailing_slash_in_configured_issuer_is_a_mismatch(stack_factory):
    stack = stack_factory()
    provider = stack.portal_app.extensions["oidc_providers"]["dev"]
    provider.issuer = stack.idp.url + "/"
    r = requests.get(f"{stack.portal.url}/auth/login/dev", allow_redirects=False, timeout=10)
    assert r.status_code == 503


def test_callback_with_another_sessions_state_creates_no_session(stack):
    victim = requests.Session()
    start = victim.get(f"{stack.portal.url}/auth/login/dev", allow_redirects=False, timeout=10)
    state = parse_qs(urlparse(start.headers["Location"]).query)["state"][0]
    attacker = requests.Session()
    r = attacker.get(f"{stack.portal.url}/auth/callback/dev",
                     params={"state": state, "code": "stolen"}, timeout=10)
    assert r.status_code == 400
    assert attacker.get(f"{stack.portal.url}/mine", timeout=10).url.startswith(
        f"{stack.portal.url}/login")
    assert stack.audit_rows("login_failed")[-1].details["reason"] == "state_mismatch"


def test_cancel_at_the_provider_logs_nobody_in(stack):
    from tests.support.oidc import csrf_from

    browser = requests.Session()
    page = browser.get(f"{stack.portal.url}/auth/login/dev", timeout=10)
    r = browser.post(page.url, data={"csrf_token": csrf_from(page.text), "cancel": "1"},
                     timeout=10)
    assert r.status_code == 200
    assert urlparse(r.url).path == "/auth/cancelled"  # a clean address, no ?code=&state=
    assert browser.get(f"{stack.portal.url}/mine", timeout=10).url.startswith(
        f"{stack.portal.url}/login")


def test_users_are_keyed_on_issuer_and_subject_not_email(stack_factory):
    first = stack_factory()
    first.login("caseworker-odense")
    second = stack_factory()  # another provider process: another issuer
    second.login("caseworker-odense")
    with first.db() as s:
        users = list(s.scalars(select(User).where(User.email == "mette.kristensen@odense.example")))
    assert len(users) == 2
    assert {u.issuer for u in users} == {first.idp.url, second.idp.url}
    assert len({u.subject for u in users}) == 1


def test_private_key_jwt_client_authentication(stack_factory):
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"}, private=True, auto_kid=True)
    stack = stack_factory(
        provider_overrides={"client_secret": None, "private_key": key.as_dict(private=True)},
        client_overrides={"client_secret": None, "token_endpoint_auth_method": "private_key_jwt",
                          "jwks": {"keys": [key.as_dict(private=False)]}},
    )
    browser, answer = stack.login("karen-odense")
    assert urlparse(answer.url).path == "/mine"


def test_login_returns_to_the_page_asked_for_but_never_off_site(stack):
    browser, answer = stack.login("mads-aarhus", next_path="/mine?tab=1")
    assert answer.url == f"{stack.portal.url}/mine?tab=1"
    browser, answer = stack.login("mads-aarhus", next_path="//evil.example/")
    assert answer.url == f"{stack.portal.url}/mine"


@pytest.mark.parametrize("next_path", [
    "/%09/evil.example/phish", "/%0A/evil.example", "/%0D%0ALocation:%20//evil.example", "/%5Cevil.example",
    "/%5C/evil.example", "/%252F/evil.example", "//user@evil.example", "/%EF%BC%8Fevil.example",
])
def test_a_login_with_a_bypass_in_next_lands_on_the_site(stack, next_path):
    """The issue's reproduction: a real login through the provider with a crafted
    ``next`` lands on the person's own page, never off site and never on a 500."""
    browser, answer = stack.login("mads-aarhus", next_path=next_path)
    assert answer.status_code == 200
    assert answer.url == f"{stack.portal.url}/mine"
    assert all(urlparse(r.headers.get("Location", "/")).netloc in ("", urlparse(stack.portal.url).netloc,
                                                                  urlparse(stack.idp.url).netloc)
               for r in answer.history)


def test_anonymous_visit_to_overview_goes_through_login_and_back(stack):
    browser = requests.Session()
    r = browser.get(f"{stack.portal.url}/mine", timeout=10)
    assert urlparse(r.url).path == "/login"
    assert parse_qs(urlparse(r.url).query)["next"] == ["/mine"]
    assert "/auth/login/dev?next=%2Fmine" in r.text or "/auth/login/dev?next=/mine" in r.text


def test_staff_cannot_open_the_citizen_overview(stack):
    browser, answer = stack.login("caseworker-odense")
    assert browser.get(f"{stack.portal.url}/mine", timeout=10).status_code == 403


def test_administrator_lands_on_the_rule_administration(stack):
    browser, answer = stack.login("administrator")
    assert answer.status_code == 200
    assert urlparse(answer.url).path == "/admin/rules"


@pytest.mark.parametrize(("claim", "expected"), [
    ("1948-03-14", date(1948, 3, 14)),
    ("0000-03-14", None),  # OpenID Connect lets a provider leave out the year
    ("14-03-1948", None),
    ("1948-02-30", None),
    ("2999-01-01", None),
    (19480314, None),
    (None, None),
])
def test_only_a_whole_past_birthdate_claim_is_taken(claim, expected):
    from portal.auth.views import birth_date

    assert birth_date(claim) == expected
