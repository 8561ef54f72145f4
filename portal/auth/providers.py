"""The configured OpenID providers and Authlib's Flask client for each.

``OIDC_PROVIDERS`` is a list of dicts (JSON in the environment):

    name            short name used in URLs, e.g. "mitid" or "workforce"
    label           button text on the login page
    issuer          the issuer URL; discovery must return exactly this issuer
    client_id
    client_secret   for client_secret_basic, or
    private_key     a private JWK (dict or JSON string) or PEM for private_key_jwt
    private_key_file  path to such a key, instead of private_key
    kind            "citizen", "staff", or "mixed" (staff when the roles claim has a
                    known staff role, else citizen; for the development provider)
    scope           default "openid profile"
    claims          claim names: loa, municipality, roles, authority, name, email,
                    birthdate, person_id (what the residence lookup is asked about)
    role_map        provider role value -> portal role (caseworker, team_lead,
                    coordinator, administrator); default maps those names to themselves
    userinfo        read the userinfo endpoint when discovery names one (default true);
                    its claims are merged under the ID token's (see docs/login.md)
    min_loa         the level a citizen must have logged in with (default OIDC_MIN_LOA)
    acr_values      what to send as ``acr_values`` (default: min_loa for citizen and
                    mixed providers, nothing for staff; "" sends nothing)

With no providers configured outside production, the development identity provider
at ``IDP_URL`` (default http://127.0.0.1:5001) is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from authlib.integrations.flask_client import OAuth
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from flask import Flask, current_app

from portal.idp import DEFAULT_MUNICIPALITY_CLAIM

DEFAULT_CLAIMS = {
    "loa": "loa",
    "municipality": DEFAULT_MUNICIPALITY_CLAIM,
    "roles": "roles",
    "authority": "authority",
    "name": "name",
    "email": "email",
    "birthdate": "birthdate",  # OpenID Connect's standard claim, YYYY-MM-DD
    # What the residence lookup is asked about (RESIDENCE_LOOKUP=http), e.g. a CPR claim.
    "person_id": "sub",
}
STAFF_ROLES = ("administrator", "coordinator", "team_lead", "caseworker")  # precedence
KINDS = ("citizen", "staff", "mixed")


class ProviderError(RuntimeError):
    """A provider cannot be used (unknown, misconfigured, or its discovery is wrong).

    ``reason`` is a short code for logs and audit rows; for ``issuer_mismatch``,
    ``configured`` and ``discovered`` hold the two issuers (public URLs)."""

    def __init__(self, message: str, reason: str = "provider_unavailable",
                 configured: str | None = None, discovered: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.configured = configured
        self.discovered = discovered


@dataclass
class Provider:
    name: str
    issuer: str
    client_id: str
    label: str = ""
    kind: str = "citizen"
    client_secret: str | None = None
    private_key: object | None = None
    scope: str = "openid profile"
    claims: dict = field(default_factory=dict)
    role_map: dict = field(default_factory=dict)
    userinfo: bool = True
    min_loa: str | None = None
    acr_values: str | None = None

    def required_loa(self, default: str) -> str:
        return self.min_loa or default

    def acr_values_for(self, default_loa: str) -> str | None:
        """The ``acr_values`` of the authorization request, or None to send none."""
        if self.acr_values is not None:
            return self.acr_values or None
        return None if self.kind == "staff" else self.required_loa(default_loa)

    @property
    def auth_method(self) -> str:
        return "private_key_jwt" if self.private_key else "client_secret_basic"

    def claim(self, what: str) -> str:
        return self.claims.get(what) or DEFAULT_CLAIMS[what]

    def map_role(self, values) -> str | None:
        """The portal role for the provider's role claim values (highest wins)."""
        if isinstance(values, str):
            values = values.split()
        mapping = self.role_map or {r: r for r in STAFF_ROLES}
        mapped = {mapping.get(v) for v in values or () if isinstance(v, str)}
        return next((r for r in STAFF_ROLES if r in mapped), None)


def _load_key(entry: dict):
    key = entry.get("private_key")
    if entry.get("private_key_file"):
        key = Path(entry["private_key_file"]).read_text(encoding="utf-8")
    if isinstance(key, str) and key.lstrip().startswith("{"):
        key = json.loads(key)
    return key


def parse_providers(entries: list[dict]) -> dict[str, Provider]:
    """Check and normalise the provider list. Raises ``ProviderError``."""
    providers: dict[str, Provider] = {}
    for entry in entries:
        missing = [k for k in ("name", "issuer", "client_id") if not entry.get(k)]
        if missing:
            raise ProviderError(f"OIDC provider {entry!r} lacks {', '.join(missing)}")
        kind = entry.get("kind", "citizen")
        if kind not in KINDS:
            raise ProviderError(f"OIDC provider {entry['name']}: kind must be one of {KINDS}")
        key = _load_key(entry)
        if not key and not entry.get("client_secret"):
            raise ProviderError(f"OIDC provider {entry['name']}: client_secret or private_key")
        providers[entry["name"]] = Provider(
            name=entry["name"],
            label=entry.get("label") or entry["name"],
            issuer=entry["issuer"],  # compared exactly, trailing slash and all
            client_id=entry["client_id"],
            client_secret=entry.get("client_secret"),
            private_key=key,
            kind=kind,
            scope=entry.get("scope", "openid profile"),
            claims=dict(entry.get("claims") or {}),
            role_map=dict(entry.get("role_map") or {}),
            userinfo=bool(entry.get("userinfo", True)),
            min_loa=entry.get("min_loa") or None,
            acr_values=entry.get("acr_values"),
        )
    return providers


def default_dev_providers(config) -> list[dict]:
    """The development identity provider, as the portal is registered there."""
    from portal.idp import default_clients

    issuer = config.get("IDP_URL") or "http://127.0.0.1:5001"
    client = default_clients(config.get("BASE_URL") or "http://127.0.0.1:5000")[0]
    return [{
        "name": "dev",
        "label": "Development identity provider (demo people)",
        "issuer": issuer,
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "kind": "mixed",
    }]


def init_app(app: Flask) -> None:
    entries = app.config.get("OIDC_PROVIDERS")
    if entries is None and app.config.get("INDGANG_ENV") != "production":
        entries = default_dev_providers(app.config)
        app.config["OIDC_PROVIDERS"] = entries
    providers = parse_providers(entries or [])
    oauth = OAuth(app)
    for p in providers.values():
        kwargs = {
            "scope": p.scope,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": p.auth_method,
            "default_timeout": 10,
        }
        oauth.register(
            p.name,
            client_id=p.client_id,
            client_secret=p.private_key if p.private_key else p.client_secret,
            server_metadata_url=p.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs=kwargs,
            client_auth_methods=[PrivateKeyJWT()] if p.private_key else None,
        )
    app.extensions["oidc_providers"] = providers
    from portal.auth.residence import build_lookup

    app.extensions["residence_lookup"] = build_lookup(app.config)
    app.extensions["oidc_oauth"] = oauth


def get_provider(name: str) -> Provider:
    provider = current_app.extensions["oidc_providers"].get(name)
    if provider is None:
        raise ProviderError(f"unknown provider {name!r}")
    return provider


def get_client(provider: Provider):
    """Authlib's client for ``provider``, with discovery loaded and its issuer checked.

    Raises ``ProviderError`` when discovery fails or names another issuer than the
    configured one (exact string match, as OpenID Connect Discovery 1.0 §4.3 asks).
    """
    client = current_app.extensions["oidc_oauth"].create_client(provider.name)
    try:
        metadata = client.load_server_metadata()
    except Exception as exc:  # network, JSON or HTTP status errors
        raise ProviderError(f"discovery failed for {provider.name}: {exc.__class__.__name__}",
                            reason="discovery_failed")
    discovered = metadata.get("issuer")
    if discovered != provider.issuer:
        # Forget the metadata so a corrected provider is read again next time (after
        # taking the issuer it named for the message).
        client.server_metadata.clear()
        hint = ""
        if isinstance(discovered, str) and discovered.rstrip("/") == provider.issuer.rstrip("/"):
            hint = " (they differ only in a trailing slash: configure the issuer exactly as discovered)"
        raise ProviderError(
            f"discovery of {provider.name} names issuer {discovered!r}, "
            f"configured {provider.issuer!r}{hint}",
            reason="issuer_mismatch", configured=provider.issuer,
            discovered=discovered if isinstance(discovered, str) else None,
        )
    return client
