"""Where a citizen lives: the person lookup asked at login for the municipality code.

A MitID broker gives an identity (and, to authorities entitled to it, a CPR number),
not a residence. ``RESIDENCE_LOOKUP`` chooses who says which municipality a citizen
belongs to:

``claim`` (default)
    the provider's municipality claim (``claims.municipality`` of the provider).
``http``
    a residence-data service: ``POST RESIDENCE_LOOKUP_URL`` with the JSON body
    ``{"person_id": "<the person_id claim>"}`` (in the body, so that a CPR number
    never lands in an access log), ``Authorization: Bearer RESIDENCE_LOOKUP_TOKEN``
    when set. It answers 200 ``{"municipality_code": "461"}``, or 404 for a person
    it does not know. Anything else, or no answer within ``RESIDENCE_LOOKUP_TIMEOUT``
    seconds (default 5), fails the login with a page saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import requests

KINDS = ("claim", "http")
CODE = re.compile(r"\d{3}")


class LookupFailed(Exception):
    """The lookup could not answer; ``reason`` is a short code, safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LookupMisconfigured(RuntimeError):
    """The RESIDENCE_LOOKUP settings do not describe a lookup that can run."""


def _code(value) -> str | None:
    """A municipality code as three digits, from a string or a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:03d}"
    return value if isinstance(value, str) and CODE.fullmatch(value) else None


@dataclass(frozen=True)
class ClaimLookup:
    """The municipality as the identity provider's claim says."""

    def municipality_code(self, person_id: str | None, municipality_claim) -> str | None:
        # Passed on as the provider sent it: the login decides whether it is a
        # municipality (and refuses "municipality_unknown" when it is not).
        if isinstance(municipality_claim, int) and not isinstance(municipality_claim, bool):
            return f"{municipality_claim:03d}"
        return municipality_claim if isinstance(municipality_claim, str) and municipality_claim else None


@dataclass(frozen=True)
class HttpLookup:
    """The municipality from a residence-data service over HTTP (see the module doc)."""

    url: str
    timeout: float = 5.0
    token: str | None = None

    def municipality_code(self, person_id: str | None, municipality_claim=None) -> str | None:
        """The code for ``person_id``; None when the service does not know the person.

        Raises ``LookupFailed`` when it cannot answer."""
        if not isinstance(person_id, str) or not person_id:
            return None
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = requests.post(self.url, json={"person_id": person_id}, headers=headers,
                                     timeout=self.timeout)
        except requests.Timeout:
            raise LookupFailed("residence_lookup_timeout")
        except requests.RequestException:
            raise LookupFailed("residence_lookup_unreachable")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise LookupFailed(f"residence_lookup_http_{response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise LookupFailed("residence_lookup_malformed")
        code = _code(body.get("municipality_code")) if isinstance(body, dict) else None
        if code is None:
            raise LookupFailed("residence_lookup_malformed")
        return code


def build_lookup(config) -> ClaimLookup | HttpLookup:
    """The lookup the settings describe. Raises ``LookupMisconfigured``."""
    kind = config.get("RESIDENCE_LOOKUP") or "claim"
    if kind not in KINDS:
        raise LookupMisconfigured(f"RESIDENCE_LOOKUP must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "claim":
        return ClaimLookup()
    url = config.get("RESIDENCE_LOOKUP_URL")
    if not url:
        raise LookupMisconfigured("RESIDENCE_LOOKUP=http needs RESIDENCE_LOOKUP_URL")
    try:
        timeout = float(config.get("RESIDENCE_LOOKUP_TIMEOUT") or 5)
    except (TypeError, ValueError):
        raise LookupMisconfigured("RESIDENCE_LOOKUP_TIMEOUT must be a number of seconds")
    if timeout <= 0:
        raise LookupMisconfigured("RESIDENCE_LOOKUP_TIMEOUT must be more than 0 seconds")
    return HttpLookup(url=url, timeout=timeout, token=config.get("RESIDENCE_LOOKUP_TOKEN") or None)
