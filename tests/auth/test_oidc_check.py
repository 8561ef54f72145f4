"""``indgang oidc check NAME`` against panva's oidc-provider and the development provider."""

from __future__ import annotations

from tests.support.broker import NSIS


def _check(app, name):
    return app.test_cli_runner().invoke(args=["oidc", "check", name])


def test_check_against_the_broker_passes_and_prints_what_to_register(broker_stack):
    result = _check(broker_stack.portal_app, "broker")
    assert result.exit_code == 0, result.output
    out = result.output
    base = broker_stack.portal.url
    assert f"OK       issuer: {broker_stack.broker.issuer} (exactly as configured)" in out
    assert "OK       ID token algorithms: RS256" in out
    assert "OK       client authentication: client_secret_basic" in out
    assert "OK       PKCE: S256" in out
    assert "OK       back-channel logout: supported" in out
    assert f"OK       acr_values: {NSIS}Substantial" in out
    assert "OK       claims: sub, name, acr, municipality_code" in out
    assert "OK       JWKS: 1 signing key(s), each with a kid" in out
    assert f"redirect_uri              {base}/auth/callback/broker" in out
    assert f"post_logout_redirect_uri  {base}/auth/logged-out" in out
    assert f"backchannel_logout_uri    {base}/auth/backchannel-logout/broker" in out
    assert "ERROR" not in out


def test_check_names_a_trailing_slash_in_the_issuer(broker_stack_factory, broker):
    stack = broker_stack_factory(provider_overrides={"issuer": broker.issuer + "/"})
    result = _check(stack.portal_app, "broker")
    assert result.exit_code == 1
    assert (f"ERROR    issuer: configured '{broker.issuer}/', discovered '{broker.issuer}': "
            "they differ only in a trailing slash") in result.output


def test_check_warns_about_claims_and_scopes_the_broker_does_not_offer(broker_stack_factory):
    stack = broker_stack_factory(provider_overrides={
        "scope": "openid profile cpr", "claims": {"loa": "acr", "municipality": "dk:kommune"}})
    result = _check(stack.portal_app, "broker")
    assert result.exit_code == 0, result.output
    assert "WARNING  scopes: cpr not in scopes_supported" in result.output
    assert "WARNING  claims: dk:kommune not in claims_supported" in result.output


def test_check_against_the_development_provider(stack):
    result = _check(stack.portal_app, "dev")
    assert result.exit_code == 0, result.output
    assert f"OK       issuer: {stack.idp.url} (exactly as configured)" in result.output
    assert f"redirect_uri              {stack.portal.url}/auth/callback/dev" in result.output


def test_check_of_an_unreachable_or_unknown_provider(stack_factory):
    stack = stack_factory(provider_overrides={"issuer": "http://127.0.0.1:1"})
    result = _check(stack.portal_app, "dev")
    assert result.exit_code == 1
    assert "ERROR    discovery: http://127.0.0.1:1/.well-known/openid-configuration cannot be reached" in result.output
    unknown = _check(stack.portal_app, "nosuch")
    assert unknown.exit_code == 1
    assert "no provider named 'nosuch' in OIDC_PROVIDERS (configured: dev)" in unknown.output
