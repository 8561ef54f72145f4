"""No open redirect: every ``next`` the portal follows (after login, the language
switch, "stay logged in") goes through ``safe_next``, which accepts only a path on this
site. A corpus of known bypasses must never come out as somewhere else."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from portal.auth import safe_next
from tests.conftest import csrf_token
from tests.factories import make_citizen

# Each of these, followed by a browser, leaves the site (or is a header injection).
BYPASSES = [
    "//evil.example/phish", "///evil.example", "////evil.example",
    "/\t/evil.example/phish", "/\n/evil.example", "/\r\n/evil.example", "/ /evil.example",
    "\t//evil.example", " //evil.example", "/\x00/evil.example", "/\x0b/evil.example",
    "/\\evil.example", "/\\/evil.example", "\\\\evil.example", "/\\\\evil.example",
    "/%09/evil.example", "/%0a/evil.example", "/%0d%0aSet-Cookie:x=1", "/%00/evil.example",
    "/%2F/evil.example", "/%2f%2fevil.example", "/%5Cevil.example", "/%5c%5cevil.example",
    "https://evil.example/", "http:evil.example", "javascript:alert(1)", "data:text/html,x",
    "//user:pass@evil.example", "//evil.example@portal.example", "/\u3000/evil.example",
    "/\uff0fevil.example", "/\uff3cevil.example", "/\u2215evil.example", "/\u2044evil.example",
    "/\u29f8evil.example", "/\ufe68evil.example", "/\u200b/evil.example", "/\u00a0/evil.example",
    "/\u2028/evil.example", "/\ud800", "evil.example", "", None, "/" + "a" * 5000,
]

PORTAL = "https://portal.example/somewhere/page"


def where_a_browser_goes(location: str) -> str:
    """The host a browser lands on after ``Location: location`` (it drops tabs and
    newlines and reads backslashes as slashes)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    return urlsplit(urljoin(PORTAL, cleaned)).netloc


@pytest.mark.parametrize("target", BYPASSES)
def test_a_bypass_is_refused(target):
    assert safe_next(target) is None


@pytest.mark.parametrize(("target", "expected"), [
    ("/mine", "/mine"), ("/mine?tab=1", "/mine?tab=1"), ("/cases/", "/cases/"), ("/", "/"),
    ("/cases/?q=a%2Fb&page=2", "/cases/?q=a%2Fb&page=2"), ("/ansoegninger/1#top", "/ansoegninger/1#top"),
    ("/a//b", "/a/b"), ("/..//evil.example", "/evil.example"), ("/a/./b/../c", "/a/c"),
    ("/s\u00f8g?q=\u00c5rhus", "/s%C3%B8g?q=%C3%85rhus"), ("/@evil.example", "/@evil.example"),
])
def test_a_path_on_this_site_is_kept_normalised(target, expected):
    assert safe_next(target) == expected
    assert where_a_browser_goes(expected) == "portal.example"


def test_nothing_that_survives_leaves_the_site():
    for target in BYPASSES + [t + "x" for t in BYPASSES if t]:
        kept = safe_next(target)
        assert kept is None or where_a_browser_goes(kept) == "portal.example", repr(target)


@pytest.mark.parametrize("target", BYPASSES[:30])
def test_the_language_switch_never_goes_off_site(client, target):
    token = csrf_token(client)
    r = client.post("/language", data={"locale": "en", "next": target or "", "csrf_token": token})
    if r.status_code == 400:  # a NUL byte in a form: the request is refused before the view
        return
    assert r.status_code == 303
    assert where_a_browser_goes(r.headers["Location"]) in ("localhost", "portal.example"), r.headers["Location"]


@pytest.mark.parametrize("target", ["/%09/evil.example/phish", "//evil.example", "/\\evil.example", "/\n/x"])
def test_stay_logged_in_never_goes_off_site(client, login, session, target):
    login(make_citizen(session))
    token = csrf_token(client, "/mine")
    r = client.post("/auth/stay", data={"next": target, "csrf_token": token})
    assert r.status_code == 303
    assert urlsplit(r.headers["Location"]).path == "/" and not urlsplit(r.headers["Location"]).netloc


@pytest.mark.parametrize("path", ["/%09/evil.example/phish", "/%5C/evil.example/phish"])
def test_the_404_pages_language_switch_stays_on_the_site(client, path):
    r = client.get(path)
    assert r.status_code == 404
    values = re.findall(r'name="next" value="([^"]*)"', r.get_data(as_text=True))
    assert values and all(v == "/" for v in values), values
