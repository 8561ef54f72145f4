"""Administrator pages for routing rules."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Role, User
from portal.models import RuleSet as RuleSetRow
from portal.services import rule_sets
from tests.conftest import csrf_token
from tests.factories import make_citizen, make_staff


@pytest.fixture
def admin_client(session, client, login):
    admin = make_staff(session, role=Role.ADMINISTRATOR)
    session.commit()
    return login(admin)


def _draft_text(client) -> str:
    page = client.get("/admin/rules/new").get_data(as_text=True)
    match = re.search(r'<textarea id="source" name="source"[^>]*>(.*?)</textarea>', page, re.S)
    return html.unescape(match.group(1))


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.CASEWORKER, Role.COORDINATOR])
def test_only_administrators_get_in(session, client, login, role):
    user = make_citizen(session) if role is Role.CITIZEN else make_staff(session, role=role)
    session.commit()
    login(user)
    assert client.get("/admin/rules").status_code == 403
    assert client.get("/admin/rules/new").status_code == 403


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get("/admin/rules")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_list_shows_the_shipped_default(admin_client):
    html = admin_client.get("/admin/rules").get_data(as_text=True)
    assert "Shipped default" in html or "Leveret standard" in html
    assert "/admin/rules/default" in html


def test_create_validate_and_publish_a_draft(admin_client, session):
    token = csrf_token(admin_client, "/admin/rules/new")
    text = _draft_text(admin_client)
    assert text.startswith("# Indgang") and "\nversion: 2\n" in text
    response = admin_client.post(
        "/admin/rules/new", data={"csrf_token": token, "source": text, "note": "first"}
    )
    assert response.status_code == 303
    row = session.scalars(select(RuleSetRow)).one()
    assert (row.version, row.status.value, row.note) == (2, "draft", "first")

    page = admin_client.get(f"/admin/rules/{row.id}/check?on=2027-01-01")
    assert page.status_code == 200 and "HX-Request" in page.headers["Vary"]
    assert "2027-01-01" in page.get_data(as_text=True)
    partial = admin_client.get(f"/admin/rules/{row.id}/check",
                               headers={"HX-Request": "true", "HX-Target": "result"})
    body = partial.get_data(as_text=True)
    assert "<html" not in body and "check-2027-01-01" in body

    response = admin_client.post(f"/admin/rules/{row.id}/publish", data={"csrf_token": token})
    assert response.status_code == 303
    session.refresh(row)
    assert row.status.value == "published"
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["rule_set.draft_created", "rule_set.published"]

    edit = admin_client.get(f"/admin/rules/{row.id}/edit")
    assert edit.status_code == 303  # a published version is never edited
    post = admin_client.post(
        f"/admin/rules/{row.id}/edit", data={"csrf_token": token, "source": text}
    )
    assert post.status_code == 303
    session.refresh(row)
    assert row.source == text


def test_bad_draft_shows_an_error_summary_and_keeps_the_text(admin_client, session):
    token = csrf_token(admin_client, "/admin/rules/new")
    text = _draft_text(admin_client).replace("priority: 20", "priority: high", 1)
    response = admin_client.post("/admin/rules/new", data={"csrf_token": token, "source": text})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r"<title>(Fejl|Error):", html)
    assert 'class="error-summary"' in html and 'href="#source"' in html
    assert "rule child-benefit-abroad" in html or "regel child-benefit-abroad" in html
    assert "priority: high" in html  # the text is kept
    assert session.scalars(select(RuleSetRow)).all() == []


def test_publish_with_gaps_is_refused_on_the_page(admin_client, session):
    token = csrf_token(admin_client, "/admin/rules/new")
    text = _draft_text(admin_client)
    start = text.index("  - id: appeal\n")
    text = text[:start]  # appeals lose their only rule
    admin_client.post("/admin/rules/new", data={"csrf_token": token, "source": text})
    row = session.scalars(select(RuleSetRow)).one()
    response = admin_client.post(f"/admin/rules/{row.id}/publish", data={"csrf_token": token})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'class="error-summary"' in html
    assert "Klage over en afgørelse" in html
    session.refresh(row)
    assert row.status.value == "draft"


def test_the_check_explains_gaps_in_the_pages_language(admin_client, session):
    token = csrf_token(admin_client, "/admin/rules/new")
    text = _draft_text(admin_client)
    admin_client.post("/admin/rules/new", data={"csrf_token": token, "source": text[:text.index("  - id: appeal\n")]})
    row = session.scalars(select(RuleSetRow)).one()
    danish = admin_client.get(f"/admin/rules/{row.id}/check?on=2026-12-01").get_data(as_text=True)
    assert "Klage over en afgørelse – 101 Københavns Kommune: ingen regel gælder" in danish
    assert "no rule applies" not in danish
    english = admin_client.get(f"/admin/rules/{row.id}/check?on=2026-12-01",
                               headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Appeal against a decision – 101 Københavns Kommune: no rule applies" in english


def test_simulate_page_needs_a_date(admin_client, session):
    admin = session.scalars(select(User).where(User.role == Role.ADMINISTRATOR)).first()
    row = rule_sets.create_draft(session, actor=admin, text=rule_sets.new_draft_text(session))
    response = admin_client.get(f"/admin/rules/{row.id}/simulate")
    assert response.status_code == 422
    assert 'href="#since"' in response.get_data(as_text=True)
    ok = admin_client.get(
        f"/admin/rules/{row.id}/simulate?since=2026-01-01", headers={"HX-Request": "true", "HX-Target": "result"}
    )
    assert ok.status_code == 200
    body = ok.get_data(as_text=True)
    assert "<html" not in body and "Simulering siden 2026-01-01" in body


def test_post_without_csrf_is_refused(admin_client):
    assert admin_client.post("/admin/rules/new", data={"source": "x"}).status_code == 400


@pytest.mark.parametrize("bad, words", [
    ('\nconditions:\n  a: &a ["x","x","x"]\n  b: &b [*a,*a,*a]\n  c: [*b,*b,*b]\n', "not allowed"),
    ("\nextra: " + "[" * 5000 + "\n", "nested more than"),
])
def test_an_alias_bomb_or_deep_nesting_is_a_422_not_expanded(admin_client, session, bad, words):
    token = csrf_token(admin_client, "/admin/rules/new")
    text = _draft_text(admin_client) + bad
    response = admin_client.post("/admin/rules/new", data={"csrf_token": token, "source": text})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert words in body and len(body) < len(text) + 60_000
    assert session.scalars(select(RuleSetRow)).all() == []


def test_an_impossible_valid_from_is_a_422(admin_client, session):
    token = csrf_token(admin_client, "/admin/rules/new")
    text = re.sub(r"(?m)^valid_from: .*$", "valid_from: 2026-02-30", _draft_text(admin_client), count=1)
    response = admin_client.post("/admin/rules/new", data={"csrf_token": token, "source": text})
    assert response.status_code == 422
    assert "not a real date" in response.get_data(as_text=True)
    assert session.scalars(select(RuleSetRow)).all() == []
