"""The app shell: health, headers, error pages, language, static htmx."""

from __future__ import annotations

import re

import pytest
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from portal.config import ConfigError, load_config
from tests.conftest import csrf_token


def test_healthz_answers_without_touching_backends(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_is_ready_when_database_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready"


def test_every_response_carries_the_security_headers(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "script-src 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert len(response.headers["X-Correlation-ID"]) >= 8


def test_pages_have_no_inline_script(client):
    html = client.get("/").get_data(as_text=True)
    assert "<script>" not in html and "onclick=" not in html
    assert '<a class="skip-link" href="#main">' in html


def test_htmx_is_served_from_our_own_static_files(client):
    html = client.get("/").get_data(as_text=True)
    assert "/static/vendor/htmx-2.0.11.min.js" in html
    assert "unpkg" not in html and "cdn" not in html.lower()
    response = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert b'version:"2.0.11"' in response.data


def test_unknown_page_is_a_plain_404_with_a_correlation_id(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert response.headers["X-Correlation-ID"] in html
    assert "Traceback" not in html


def test_unexpected_error_shows_no_stack_trace(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "secret internals" not in html and "Traceback" not in html
    assert response.headers["X-Correlation-ID"] in html


def test_danish_is_the_default_and_english_can_be_chosen(client):
    assert 'lang="da"' in client.get("/").get_data(as_text=True)
    assert "Én indgang til den offentlige sektor" in client.get("/").get_data(as_text=True)
    token = csrf_token(client)
    response = client.post("/language", data={"locale": "en", "next": "/", "csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    html = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in html and "One entrance to the public sector" in html


def test_switching_language_on_a_page_shown_after_a_post_leads_to_a_page_not_a_405(app, client):
    """A form with errors is shown at its POST address; the language switch sends the
    visitor to the nearest page up that path instead of a 405."""
    token = csrf_token(client)
    adapter = app.url_map.bind("")
    post_only = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:int:)?[^>]+>", "7", rule.rule)
        if rule.endpoint.startswith("api.") or "<" not in rule.rule:
            continue
        try:
            adapter.match(path, method="GET")
        except MethodNotAllowed:
            post_only.append(path)
        except HTTPException:
            pass
    assert len(post_only) > 20
    for path in post_only:
        response = client.post("/language", data={"locale": "en", "next": path, "csrf_token": token})
        location = response.headers["Location"]
        assert response.status_code == 303 and location != path, path
        adapter.match(location, method="GET")  # raises MethodNotAllowed or NotFound if not a page
    response = client.post("/language", data={"locale": "en", "next": "/cases/5/accept", "csrf_token": token})
    assert response.headers["Location"] == "/cases/5"
    response = client.post("/language", data={"locale": "da", "next": "/cases/?status=pending", "csrf_token": token})
    assert response.headers["Location"] == "/cases/?status=pending"


def test_language_switch_refuses_foreign_redirects(client):
    token = csrf_token(client)
    response = client.post("/language", data={"locale": "en", "next": "//evil.example", "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_post_without_csrf_token_is_refused(client):
    response = client.post("/language", data={"locale": "en"})
    assert response.status_code == 400
    assert 'lang="da"' in client.get("/").get_data(as_text=True)


def test_production_refuses_to_start_without_its_settings():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"INDGANG_ENV": "production", "DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x"})
    with pytest.raises(ConfigError, match="INDGANG_ENV"):
        load_config({"INDGANG_ENV": "staging"})


def test_session_cookie_is_httponly_lax_and_secure_in_production():
    dev = load_config({})
    prod = load_config({"INDGANG_ENV": "production", "SECRET_KEY": "k", "DATABASE_URL": "d", "REDIS_URL": "r"})
    assert dev["SESSION_COOKIE_HTTPONLY"] and dev["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert not dev["SESSION_COOKIE_SECURE"] and prod["SESSION_COOKIE_SECURE"]


PRODUCTION = {"INDGANG_ENV": "production", "SECRET_KEY": "k", "DATABASE_URL": "d", "REDIS_URL": "r"}


@pytest.fixture
def production_cookies(app_config):
    """The app fixture, with the session cookie settings production has."""
    prod = load_config(PRODUCTION)
    app_config.update({k: v for k, v in prod.items() if k.startswith("SESSION_COOKIE_")})
    return prod


def test_the_session_cookie_is_a_host_cookie_in_production(production_cookies, client):
    assert production_cookies["SESSION_COOKIE_NAME"] == "__Host-indgang_session"
    assert load_config({})["SESSION_COOKIE_NAME"] == "indgang_session"  # plain http in development
    response = client.get("/login", base_url="https://localhost")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-indgang_session="))
    attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
    assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
    assert not any(a.startswith("domain") for a in attributes)
    with pytest.raises(ConfigError, match="__Host-"):
        load_config(PRODUCTION | {"SESSION_COOKIE_SECURE": "0"})
