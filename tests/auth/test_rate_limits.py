"""Login and logout are rate-limited per address, counted in Redis."""

from __future__ import annotations

import redis
import requests

from tests.support.oidc import csrf_from


def test_login_is_rate_limited(stack_factory):
    stack = stack_factory(portal_overrides={"RATELIMIT_ENABLED": True,
                                            "AUTH_LOGIN_RATE_LIMIT": "3 per minute"})
    answers = [requests.get(f"{stack.portal.url}/auth/login/dev", allow_redirects=False, timeout=10)
               for _ in range(4)]
    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert answers[-1].headers.get("Retry-After", "").isdigit()  # the web page's 429 says when, too
    # The callback shares the login budget.
    r = requests.get(f"{stack.portal.url}/auth/callback/dev?state=x&code=y", timeout=10)
    assert r.status_code == 429
    keys = redis.Redis.from_url(stack.portal_app.config["REDIS_URL"]).keys("*indgang-limits*")
    assert keys, "the counters live in the app's Redis"


def test_logout_is_rate_limited(stack_factory):
    stack = stack_factory(portal_overrides={"RATELIMIT_ENABLED": True,
                                            "AUTH_LOGOUT_RATE_LIMIT": "2 per minute"})
    browser = requests.Session()
    codes = []
    for _ in range(3):
        page = browser.get(f"{stack.portal.url}/auth/logged-out", timeout=10)
        r = browser.post(f"{stack.portal.url}/auth/logout", allow_redirects=False,
                         data={"csrf_token": csrf_from(page.text)}, timeout=10)
        codes.append(r.status_code)
    assert codes == [303, 303, 429]


def test_limits_are_off_when_disabled(stack):
    codes = {requests.get(f"{stack.portal.url}/auth/login/dev", allow_redirects=False,
                          timeout=10).status_code for _ in range(25)}
    assert codes == {302}
