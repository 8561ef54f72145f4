"""Browser tests: Debian's Chromium driven by Playwright, axe-core for WCAG 2.1 AA.

``live_server`` serves a real app (its own database, so its commits are visible to
the server thread) on a loopback port. Browser tests never skip in CI: Chromium is
installed by .ci/run, and ``INDGANG_NO_SKIPS=1`` turns any skip into a failure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from tests.conftest import make_config

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@dataclass
class LiveServer:
    app: object
    url: str

    def session(self):
        """A database session of the served app (close it when done)."""
        return self.app.extensions["db"].sessionmaker()


class _ServerThread(threading.Thread):
    def __init__(self, app):
        super().__init__(daemon=True)
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port

    def run(self):
        self.server.serve_forever()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def live_server_factory(live_database_url, redis_url, tmp_path) -> Iterator:
    """``live_server_factory(**config)`` starts a served app; stopped after the test."""
    from portal import create_app, redis_conn

    started = []

    def start(**overrides) -> LiveServer:
        config = make_config(live_database_url, redis_url, tmp_path, **overrides)
        app = create_app(config)
        thread = _ServerThread(app)
        thread.start()
        started.append((app, thread))
        return LiveServer(app=app, url=f"http://127.0.0.1:{thread.port}")

    yield start
    for app, thread in started:
        thread.stop()
        redis_conn.close(app)
        app.extensions["db"].engine.dispose()


@pytest.fixture
def live_server(live_server_factory) -> LiveServer:
    return live_server_factory()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM}: run .ci/run or apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="da-DK")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def nojs_page(browser):
    """A page with JavaScript disabled: every flow must work without it."""
    context = browser.new_context(locale="da-DK", java_script_enabled=False)
    page = context.new_page()
    yield page
    context.close()


def axe_violations(page) -> list[dict]:
    """WCAG 2.1 A/AA violations axe-core finds on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
    ]


def assert_accessible(page) -> None:
    """Fail with a readable list if axe-core finds WCAG 2.1 A/AA violations."""
    violations = axe_violations(page)
    assert violations == [], f"axe-core violations on {page.url}: {violations}"


def session_cookie(live_server: LiveServer, user_id: int) -> dict:
    """The session cookie a successful login would set for ``user_id``, for Playwright's
    ``context.add_cookies`` (the OIDC login itself is tested in test_login_browser.py).

    Made through the app's own session interface, whatever it stores sessions in.
    """
    client = live_server.app.test_client()
    with client.session_transaction() as sess:
        sess["user_id"] = user_id
    cookie = client.get_cookie(live_server.app.config["SESSION_COOKIE_NAME"])
    return {"name": cookie.key, "value": cookie.value, "url": live_server.url}
