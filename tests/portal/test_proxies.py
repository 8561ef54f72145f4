"""Behind reverse proxies: whose address the app sees, for rate limits and /metrics."""

from __future__ import annotations

import pytest

from portal.config import ConfigError, load_config
from tests.conftest import make_config


@pytest.fixture
def app_with(_shared_database_url, redis_url, tmp_path):
    """``app_with(**config)``: an app with rate limits on, closed after the test."""
    from portal import create_app, redis_conn

    apps = []

    def make(**overrides):
        app = create_app(make_config(_shared_database_url, redis_url, tmp_path, RATELIMIT_ENABLED=True,
                                     AUTH_LOGIN_RATE_LIMIT="2 per minute", **overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        redis_conn.close(app)


def login_attempts(app, forwarded_for: str, n: int) -> list[int]:
    client = app.test_client()
    return [client.get("/auth/login/nope", headers={"X-Forwarded-For": forwarded_for}).status_code
            for _ in range(n)]


def test_behind_one_proxy_each_client_has_its_own_login_budget(app_with):
    app = app_with(TRUSTED_PROXIES=1)
    assert login_attempts(app, "198.51.100.1", 3)[-1] == 429
    # Another citizen behind the same load balancer is not locked out by the first.
    assert 429 not in login_attempts(app, "198.51.100.2", 2)


def test_without_trusted_proxies_a_client_cannot_pick_its_address_to_escape_the_limit(app_with):
    app = app_with(TRUSTED_PROXIES=0)
    codes = [login_attempts(app, f"198.51.100.{i}", 1)[0] for i in range(3)]
    assert codes[-1] == 429


def test_only_the_trusted_hops_are_believed(app_with):
    """Two proxies trusted: the address the second-to-last proxy saw counts; what
    the client wrote further left in the header does not."""
    app = app_with(TRUSTED_PROXIES=2)
    codes = [login_attempts(app, f"203.0.113.{i}, 198.51.100.7, 10.0.0.2", 1)[0] for i in range(3)]
    assert codes[-1] == 429


@pytest.mark.parametrize(("hops", "seen"), [
    (0, "http 127.0.0.1"), (1, "https 198.51.100.7"), (2, "https 203.0.113.5"),
])
def test_the_app_sees_the_client_and_scheme_the_trusted_proxies_report(app_with, hops, seen):
    from flask import request

    app = app_with(TRUSTED_PROXIES=hops)
    app.add_url_rule("/_seen", "seen", lambda: f"{request.scheme} {request.remote_addr}")
    response = app.test_client().get("/_seen", headers={
        "X-Forwarded-For": "192.0.2.66, 203.0.113.5, 198.51.100.7", "X-Forwarded-Proto": "https, https"})
    assert response.get_data(as_text=True) == seen


@pytest.mark.parametrize("value", ["-1", "one", "1.5", ""])
def test_trusted_proxies_must_be_a_whole_number(value):
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load_config({"TRUSTED_PROXIES": value})
    assert load_config({"TRUSTED_PROXIES": "2"})["TRUSTED_PROXIES"] == 2
    assert load_config({})["TRUSTED_PROXIES"] == 0
