"""A portal and the development identity provider, both served on loopback.

``OidcStack`` starts the provider (in test mode, with its fault switch) and a portal
registered there, and drives the code flow over real HTTP like a browser would.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import requests

from tests.support.live import LiveServer

PORTAL_CLIENT_ID = "indgang-portal-test"
PORTAL_CLIENT_SECRET = "portal-test-secret"  # noqa: S105


class Clock:
    """The portal's clock: real time plus an offset the test moves."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


class LookingInside:
    """What a login stack's tests read of its portal: the database, the audit rows;
    and how the stack stops. Needs ``portal_app`` and ``servers``."""

    def db(self):
        return self.portal_app.extensions["db"].sessionmaker()

    def audit_rows(self, action: str | None = None):
        from sqlalchemy import select

        from portal.models import AuditEntry

        with self.db() as s:
            query = select(AuditEntry).order_by(AuditEntry.id)
            if action:
                query = query.where(AuditEntry.action == action)
            return list(s.scalars(query))

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@dataclass
class OidcStack(LookingInside):
    idp: LiveServer
    portal: LiveServer
    idp_app: object
    portal_app: object
    clock: Clock
    provider: str = "dev"
    servers: list = field(default_factory=list)

    # Driving the flow -------------------------------------------------------------

    def browser(self) -> requests.Session:
        return requests.Session()

    def login(self, person_id: str, browser: requests.Session | None = None,
              provider: str | None = None, next_path: str | None = None):
        """Log ``person_id`` in through the provider's page; returns (browser, last response)."""
        browser = browser or self.browser()
        url = f"{self.portal.url}/auth/login/{provider or self.provider}"
        if next_path:
            url += f"?next={next_path}"
        page = browser.get(url, timeout=10)
        assert page.url.startswith(self.idp_url_for(provider)), page.url
        answer = browser.post(page.url, data={"csrf_token": csrf_from(page.text),
                                              "person": person_id}, timeout=10)
        return browser, answer

    def idp_url_for(self, provider: str | None) -> str:
        return self.idp.url

    def logout(self, browser: requests.Session):
        page = browser.get(f"{self.portal.url}/mine", timeout=10)
        return browser.post(f"{self.portal.url}/auth/logout",
                            data={"csrf_token": csrf_from(page.text)}, timeout=10)

    def set_faults(self, id_token=None, logout_token=None) -> None:
        r = requests.post(f"{self.idp.url}/test/faults", timeout=5,
                          json={"id_token": id_token, "logout_token": logout_token})
        assert r.status_code == 200, r.text

    def logout_token(self, sub: str | None, sid: str | None = None, fault: str | None = None,
                     client_id: str = PORTAL_CLIENT_ID) -> str:
        r = requests.post(f"{self.idp.url}/test/logout-token", timeout=5,
                          json={"client_id": client_id, "sub": sub, "sid": sid, "fault": fault})
        assert r.status_code == 200, r.text
        return r.json()["logout_token"]

    def post_logout_token(self, token: str):
        return requests.post(f"{self.portal.url}/auth/backchannel-logout/{self.provider}",
                             data={"logout_token": token}, timeout=10)


def idp_client(portal_url: str, provider: str = "dev", **extra) -> dict:
    """The portal as a registered client of the development provider."""
    client = {
        "client_id": PORTAL_CLIENT_ID,
        "client_secret": PORTAL_CLIENT_SECRET,
        "redirect_uris": [f"{portal_url}/auth/callback/{provider}"],
        "post_logout_redirect_uris": [f"{portal_url}/auth/logged-out"],
        "backchannel_logout_uri": f"{portal_url}/auth/backchannel-logout/{provider}",
    }
    client.update(extra)
    return client


def start_stack(*, database_url: str, redis_url: str, tmp_path, portal_overrides=None,
                provider_overrides=None, client_overrides=None, idp_overrides=None) -> OidcStack:
    """Start the provider and a portal registered there; the caller stops them."""
    from portal import create_app
    from portal.idp import create_idp_app
    from tests.conftest import make_config

    idp_server, portal_server = LiveServer(), LiveServer()
    idp_config = {
        "IDP_ISSUER": idp_server.url,
        "IDP_STORE_PATH": str(tmp_path / "idp.sqlite3"),
        "IDP_KEY_PATH": str(tmp_path / "idp_key.json"),
        "IDP_TEST_MODE": True,
        "IDP_CLIENTS": [idp_client(portal_server.url, **(client_overrides or {}))],
    }
    idp_config.update(idp_overrides or {})
    idp_app = create_idp_app(idp_config)
    idp_server.start(idp_app)

    clock = Clock()
    provider = {
        "name": "dev", "label": "Demo", "issuer": idp_server.url, "client_id": PORTAL_CLIENT_ID,
        "client_secret": PORTAL_CLIENT_SECRET, "kind": "mixed",
    }
    provider.update(provider_overrides or {})
    config = make_config(database_url, redis_url, tmp_path, BASE_URL=portal_server.url,
                         OIDC_PROVIDERS=[provider], CLOCK=clock, TESTING=False)
    config.update(portal_overrides or {})
    portal_app = create_app(config)
    portal_server.start(portal_app)
    return OidcStack(idp=idp_server, portal=portal_server, idp_app=idp_app,
                     portal_app=portal_app, clock=clock, servers=[portal_server, idp_server])
