"""Pages on Det Fælles Designsystem: the vendored CSS and JS, the public-site pages,
and our own CSS kept to small overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import csrf_token

CSS = Path(__file__).resolve().parents[2] / "portal" / "static" / "css"
PAGES = ("/tilgaengelighed", "/privatliv", "/cookies", "/hjaelp")


def test_our_own_css_stays_within_200_lines():
    lines = sum(len(path.read_text(encoding="utf-8").splitlines()) for path in CSS.glob("*.css"))
    assert lines <= 200, lines


def test_the_base_page_loads_the_design_system_and_no_inline_code(client):
    html = client.get("/").get_data(as_text=True)
    assert "/static/vendor/dkfds-11.2.0/css/dkfds-borgerdk.min.css" in html
    assert "/static/vendor/dkfds-11.2.0/js/dkfds.min.js" in html
    assert "<style" not in html and "style=" not in html and "<script>" not in html
    assert 'class="header"' in html and "js-menu-open" in html and "mobile-drawer" in html


@pytest.mark.parametrize("path", ("/", *PAGES))
def test_every_page_links_the_accessibility_statement_and_the_notices(client, path):
    html = client.get(path).get_data(as_text=True)
    for link in PAGES:
        assert f'href="{link}"' in html


@pytest.mark.parametrize("locale", ("da", "en"))
@pytest.mark.parametrize("path", PAGES)
def test_the_public_site_pages_render_in_both_languages(client, path, locale):
    client.post("/language", data={"locale": locale, "next": "/", "csrf_token": csrf_token(client)})
    response = client.get(path)
    assert response.status_code == 200
    assert f'lang="{locale}"' in response.get_data(as_text=True)


def test_the_cookie_notice_lists_the_session_cookie(app, client):
    html = client.get("/cookies").get_data(as_text=True)
    assert app.config["SESSION_COOKIE_NAME"] in html


def test_the_operator_is_named_from_settings(app, client):
    app.config["OPERATOR_NAME"] = "Testkommunernes Fællesdrift"
    app.config["OPERATOR_EMAIL"] = "a11y@example.dk"
    html = client.get("/tilgaengelighed").get_data(as_text=True)
    assert "Testkommunernes Fællesdrift" in html and "a11y@example.dk" in html


def test_operator_texts_come_from_a_file(app, client, tmp_path):
    text = tmp_path / "operator.json"
    text.write_text('{"accessibility_status": "Delvist i overensstemmelse med WCAG 2.1 AA."}', encoding="utf-8")
    app.config["OPERATOR_TEXT_FILE"] = str(text)
    assert "Delvist i overensstemmelse" in client.get("/tilgaengelighed").get_data(as_text=True)


def test_help_lists_each_authority_with_its_contact_details(client):
    html = client.get("/hjaelp").get_data(as_text=True)
    assert "<details" in html and "Aarhus Kommune" in html


def test_the_overview_puts_the_citizens_requests_before_drafts_and_offers():
    source = (Path(__file__).resolve().parents[2] / "templates" / "citizen" / "overview.html").read_text(encoding="utf-8")
    requests = source.index('id="requests-heading"')
    assert requests < source.index('id="drafts-heading"')
    assert requests < source.index('feedback/_overview.html')
