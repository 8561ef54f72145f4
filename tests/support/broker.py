"""panva's ``oidc-provider`` (npm) set up like a MitID broker, and a portal using it.

``Broker`` runs ``tests/support/oidc_provider/provider.mjs`` under Node on a free
port (installing its pinned packages with ``npm ci`` first when they are missing or
stale); ``BrokerStack`` starts a portal registered there (dynamic client
registration, so each portal brings its own redirect URIs) and drives the code flow
over real HTTP like a browser would.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import requests

from tests.support.live import LiveServer
from tests.support.net import free_port, wait_for
from tests.support.oidc import Clock, LookingInside, csrf_from

HERE = Path(__file__).resolve().parent / "oidc_provider"
REGISTRATION_TOKEN = "indgang-test-registration"  # noqa: S105 - a test provider's
NSIS = "https://data.gov.dk/concept/core/nsis/loa/"
ACCOUNTS = {
    # sub: what the broker knows of the person (the name only at userinfo)
    "c2f1a8d0-broker-karen": {"name": "Karen Broker Jensen", "municipality_code": "461"},
    "9b7e3c11-broker-ole": {"name": "Ole Broker Hansen", "municipality_code": "751"},
    "5d0f2e77-broker-nowhere": {"name": "Nina Uden Kommune", "municipality_code": "999"},
    # the residence-data server of tests/auth/test_residence_lookup.py answers her slowly
    "person-slow": {"name": "Sofie Langsom", "municipality_code": "461"},
}


def ensure_installed() -> None:
    """``npm ci`` in the provider's folder unless its packages match the lock file."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("the broker tests need Node.js and npm (apt-get install nodejs npm)")
    lock = HERE / "package-lock.json"
    installed = HERE / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,  # noqa: S603
                   check=True, timeout=300)


class Broker:
    """The provider process; ``issuer`` is its URL."""

    def __init__(self, tmp_path: Path, issuer_suffix: str = ""):
        ensure_installed()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = self.url + issuer_suffix
        config = tmp_path / "broker.json"
        config.write_text(json.dumps({
            "issuer": self.issuer, "port": self.port,
            "registration_token": REGISTRATION_TOKEN, "accounts": ACCOUNTS,
        }), encoding="utf-8")
        self.log = tmp_path / "broker.log"
        self._log = self.log.open("w")
        self.proc = subprocess.Popen(  # noqa: S603 - our own script
            [shutil.which("node"), str(HERE / "provider.mjs"), str(config)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=HERE,
        )
        wait_for(lambda: "ready" in self.log.read_text(encoding="utf-8") or self._died(),
                 timeout=30, message="the broker to listen")
        self._died(raise_=True)

    def _died(self, raise_: bool = False) -> bool:
        if self.proc.poll() is not None:
            if raise_:
                raise RuntimeError("the broker stopped: " + self.log.read_text(encoding="utf-8"))
            return True
        return False

    def register(self, portal_url: str, provider: str = "broker") -> dict:
        """Register a portal as a client (RFC 7591); returns client_id and client_secret."""
        r = requests.post(f"{self.url}/reg", timeout=10,
                          headers={"Authorization": f"Bearer {REGISTRATION_TOKEN}"},
                          json={
                              "redirect_uris": [f"{portal_url}/auth/callback/{provider}"],
                              "post_logout_redirect_uris": [f"{portal_url}/auth/logged-out"],
                              "backchannel_logout_uri": f"{portal_url}/auth/backchannel-logout/{provider}",
                              "token_endpoint_auth_method": "client_secret_basic",
                          })
        assert r.status_code == 201, r.text
        return r.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def page_field(html: str, element_id: str) -> str:
    match = re.search(rf'<p id="{element_id}">([^<]*)</p>', html)
    assert match, f"no {element_id} on the page"
    return unescape(match.group(1))


@dataclass
class BrokerStack(LookingInside):
    broker: Broker
    portal: LiveServer
    portal_app: object
    clock: Clock
    client: dict
    provider: str = "broker"
    servers: list = field(default_factory=list)

    def login_page(self, browser: requests.Session, path: str | None = None):
        """Start a login at the portal; returns the broker's login page (followed)."""
        page = browser.get(self.portal.url + (path or f"/auth/login/{self.provider}"), timeout=10)
        assert page.url.startswith(self.broker.url + "/interaction/"), (page.url, page.text[:500])
        return page

    def submit(self, browser: requests.Session, page, account: str, loa: str = "substantial"):
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
        return browser.post(self.broker.url + unescape(action),
                            data={"account": account, "loa": loa}, timeout=10)

    def login(self, account: str, loa: str = "substantial", browser: requests.Session | None = None):
        """Log ``account`` in at the broker with ``loa``; returns (browser, last response)."""
        browser = browser or requests.Session()
        return browser, self.submit(browser, self.login_page(browser), account, loa)

    def logout(self, browser: requests.Session):
        """RP-initiated logout: the portal's button, then the broker's confirmation."""
        page = browser.get(f"{self.portal.url}/mine", timeout=10)
        confirm = browser.post(f"{self.portal.url}/auth/logout",
                               data={"csrf_token": csrf_from(page.text)}, timeout=10)
        return self.confirm_broker_logout(browser, confirm)

    def confirm_broker_logout(self, browser: requests.Session, confirm):
        assert confirm.url.startswith(self.broker.url), confirm.url
        action = re.search(r'action="([^"]+)"', confirm.text).group(1)
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', confirm.text).group(1)
        return browser.post(unescape(action), data={"xsrf": xsrf, "logout": "yes"}, timeout=10)



def broker_provider(broker: Broker, client: dict, **overrides) -> dict:
    """The portal's OIDC_PROVIDERS entry for the broker, through documented settings only."""
    entry = {
        "name": "broker", "label": "MitID", "issuer": broker.issuer, "kind": "citizen",
        "client_id": client["client_id"], "client_secret": client["client_secret"],
        "scope": "openid profile municipality",
        "claims": {"loa": "acr", "municipality": "municipality_code"},
    }
    entry.update(overrides)
    return entry


def start_broker_stack(broker: Broker, *, database_url: str, redis_url: str, tmp_path,
                       provider_overrides=None, portal_overrides=None) -> BrokerStack:
    """A portal registered at ``broker``; the caller stops it."""
    from portal import create_app
    from tests.conftest import make_config

    portal_server = LiveServer()
    client = broker.register(portal_server.url)
    clock = Clock()
    config = make_config(database_url, redis_url, tmp_path, BASE_URL=portal_server.url,
                         OIDC_PROVIDERS=[broker_provider(broker, client, **(provider_overrides or {}))],
                         CLOCK=clock, TESTING=False)
    config.update(portal_overrides or {})
    portal_app = create_app(config)
    portal_server.start(portal_app)
    return BrokerStack(broker=broker, portal=portal_server, portal_app=portal_app, clock=clock,
                       client=client, servers=[portal_server])
