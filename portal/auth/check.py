"""``indgang oidc check NAME``: is a configured provider one the portal can log in with?

Runs discovery, compares the issuer exactly, looks at the endpoints, the JWKS and the
algorithms, and says what to register at the provider. Read-only: it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

import click
import requests
from flask import current_app
from flask.cli import with_appcontext

from portal.auth.providers import Provider, ProviderError, get_provider
from portal.auth.tokens import ALGORITHMS

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Report:
    """The findings of one check: (level, text) with level ok, warning or error."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self.lines.append(("ok", text))

    def warning(self, text: str) -> None:
        self.lines.append(("warning", text))

    def error(self, text: str) -> None:
        self.lines.append(("error", text))

    @property
    def failed(self) -> bool:
        return any(level == "error" for level, _ in self.lines)


def uris_to_register(provider: Provider, base_url: str) -> dict[str, str]:
    """The addresses an operator registers for the portal at ``provider``."""
    base = base_url.rstrip("/")
    return {
        "redirect_uri": f"{base}/auth/callback/{provider.name}",
        "post_logout_redirect_uri": f"{base}/auth/logged-out",
        "backchannel_logout_uri": f"{base}/auth/backchannel-logout/{provider.name}",
    }


def _get_json(url: str, report: Report, what: str) -> dict | None:
    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException as exc:
        report.error(f"{what}: {url} cannot be reached ({exc.__class__.__name__})")
        return None
    if response.status_code != 200:
        report.error(f"{what}: {url} answered HTTP {response.status_code}")
        return None
    try:
        data = response.json()
    except ValueError:
        report.error(f"{what}: {url} did not answer JSON")
        return None
    if not isinstance(data, dict):
        report.error(f"{what}: {url} did not answer a JSON object")
        return None
    return data


def check_provider(provider: Provider, *, production: bool, min_loa: str) -> Report:
    """Check ``provider`` over the network; the findings in a ``Report``."""
    report = Report()
    url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
    metadata = _get_json(url, report, "discovery")
    if metadata is None:
        return report
    report.ok(f"discovery: {url}")

    discovered = metadata.get("issuer")
    if discovered == provider.issuer:
        report.ok(f"issuer: {discovered} (exactly as configured)")
    elif isinstance(discovered, str) and discovered.rstrip("/") == provider.issuer.rstrip("/"):
        report.error(f"issuer: configured {provider.issuer!r}, discovered {discovered!r}: they differ "
                     "only in a trailing slash; configure the issuer exactly as discovered")
    else:
        report.error(f"issuer: configured {provider.issuer!r}, discovered {discovered!r}")

    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        _endpoint(report, metadata, name, production, required=True)
    if _endpoint(report, metadata, "userinfo_endpoint", production, required=False) is None:
        report.warning("userinfo_endpoint: none; every claim must be in the ID token")
    elif not provider.userinfo:
        report.warning("userinfo_endpoint: offered, but this provider is set to userinfo=false")
    if _endpoint(report, metadata, "end_session_endpoint", production, required=False) is None:
        report.warning("end_session_endpoint: none; logging out ends only the portal's session")
    if metadata.get("backchannel_logout_supported") is True:
        report.ok("back-channel logout: supported")
    else:
        report.warning("back-channel logout: not announced (backchannel_logout_supported); a logout "
                       "at the provider will not end the portal's session")

    algs = metadata.get("id_token_signing_alg_values_supported") or []
    usable = [a for a in algs if a in ALGORITHMS]
    if usable:
        report.ok(f"ID token algorithms: {', '.join(usable)} (the portal accepts {', '.join(ALGORITHMS)})")
    else:
        report.error(f"ID token algorithms: provider offers {algs or 'none'}, the portal accepts "
                     f"only {', '.join(ALGORITHMS)}")
    _includes(report, metadata, "token_endpoint_auth_methods_supported", provider.auth_method,
              "client authentication", default=["client_secret_basic"])
    _includes(report, metadata, "code_challenge_methods_supported", "S256", "PKCE")
    _includes(report, metadata, "response_types_supported", "code", "response type")

    scopes = metadata.get("scopes_supported")
    if isinstance(scopes, list):
        missing = [s for s in provider.scope.split() if s not in scopes]
        if missing:
            report.warning(f"scopes: {', '.join(missing)} not in scopes_supported")
        else:
            report.ok(f"scopes: {provider.scope}")
    claims = metadata.get("claims_supported")
    if isinstance(claims, list):
        wanted = ["sub", provider.claim("name"), provider.claim("loa")]
        if provider.kind != "staff":
            wanted.append(provider.claim("municipality"))
        missing = [c for c in wanted if c not in claims]
        if missing:
            report.warning(f"claims: {', '.join(missing)} not in claims_supported (see claims in "
                           "OIDC_PROVIDERS and docs/login.md)")
        else:
            report.ok(f"claims: {', '.join(wanted)}")
    acr = provider.acr_values_for(min_loa)
    supported_acr = metadata.get("acr_values_supported")
    if acr and isinstance(supported_acr, list):
        if all(a in supported_acr for a in acr.split()):
            report.ok(f"acr_values: {acr}")
        else:
            report.warning(f"acr_values: {acr} not in acr_values_supported {supported_acr}")

    jwks_uri = metadata.get("jwks_uri")
    if isinstance(jwks_uri, str):
        jwks = _get_json(jwks_uri, report, "JWKS")
        if jwks is not None:
            keys = [k for k in jwks.get("keys") or [] if isinstance(k, dict)]
            signing = [k for k in keys if k.get("use", "sig") == "sig"]
            if not signing:
                report.error("JWKS: no signing keys")
            elif not all(k.get("kid") for k in signing):
                report.error("JWKS: a signing key without kid; the portal picks keys by kid")
            else:
                report.ok(f"JWKS: {len(signing)} signing key(s), each with a kid")
    return report


def _endpoint(report: Report, metadata: dict, name: str, production: bool, *, required: bool):
    value = metadata.get(name)
    if not isinstance(value, str) or not value:
        if required:
            report.error(f"{name}: missing")
        return None
    parsed = urlparse(value)
    if parsed.scheme != "https" and (production or parsed.hostname not in LOOPBACK):
        report.error(f"{name}: {value} is not https")
    else:
        report.ok(f"{name}: {value}")
    return value


def _includes(report: Report, metadata: dict, key: str, value: str, what: str, default=None) -> None:
    offered = metadata.get(key)
    if offered is None:
        offered = default
    if offered is None:
        report.warning(f"{what}: {key} not announced; the portal uses {value}")
    elif value in offered:
        report.ok(f"{what}: {value}")
    else:
        report.error(f"{what}: the portal uses {value}, the provider offers {', '.join(offered) or 'nothing'}")


@click.group("oidc")
def oidc_group() -> None:
    """The configured OpenID Connect providers."""


@oidc_group.command("check")
@click.argument("name")
@with_appcontext
def oidc_check(name: str) -> None:
    """Check provider NAME (discovery, issuer, endpoints, keys, algorithms) and print
    the addresses to register there. Exits 1 when the portal cannot log in with it."""
    try:
        provider = get_provider(name)
    except ProviderError:
        known = ", ".join(current_app.extensions["oidc_providers"]) or "none"
        raise click.ClickException(f"no provider named {name!r} in OIDC_PROVIDERS (configured: {known})")
    click.echo(f"Provider {provider.name}: issuer {provider.issuer}, client {provider.client_id}, "
               f"{provider.auth_method}")
    report = check_provider(provider, production=current_app.config.get("INDGANG_ENV") == "production",
                            min_loa=current_app.config["OIDC_MIN_LOA"])
    for level, text in report.lines:
        click.echo(f"  {level.upper():<8} {text}")
    click.echo("\nRegister the portal at the provider with:")
    for key, value in uris_to_register(provider, current_app.config["BASE_URL"]).items():
        click.echo(f"  {key:<25} {value}")
    click.echo("  (the post-logout URI exactly as shown: otherwise the citizen is stranded on the "
               "provider's error page, still logged in there)")
    if report.failed:
        raise SystemExit(1)
    click.echo("\nThe portal can log in with this provider.")
