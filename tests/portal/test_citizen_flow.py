"""Filing through the web pages with the Flask test client: the whole flow, errors on
the way, drafts, the receipt, the overview, cases and replies."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.models import AuditEntry, Case, CaseEvent, EventKind, Message, OutboxMessage, Request, RequestStatus
from tests.conftest import csrf_token
from tests.factories import make_case, make_citizen, make_staff

HOME_CARE_ANSWERS = [
    ("help", {"help_type": "practical"}),
    ("need", {"need_description": "Jeg kan ikke gøre rent eller handle ind."}),
    ("since", {"need_since": "1 3 2026"}),
    ("relatives", {"lives_alone": "yes"}),
]


def _start(client, slug="home-care"):
    token = csrf_token(client, f"/tjenester/{slug}")
    response = client.post(f"/tjenester/{slug}/start", data={"csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.search(r"/ansoegninger/(\d+)/trin/", response.headers["Location"])
    return int(match.group(1)), token


def _answer(client, request_id, token, step, values, slug="home-care", **extra):
    data = {"csrf_token": token, "service_type": slug, "action": "continue", **values, **extra}
    return client.post(f"/ansoegninger/{request_id}/trin/{step}", data=data)


def _fill(client, request_id, token, answers=HOME_CARE_ANSWERS, slug="home-care"):
    for step, values in answers:
        response = _answer(client, request_id, token, step, values, slug=slug)
        assert response.status_code == 303, response.get_data(as_text=True)


def _check_form(client, request_id):
    html = client.get(f"/ansoegninger/{request_id}/tjek").get_data(as_text=True)
    fields = dict(re.findall(r'name="(csrf_token|service_type|authority_id|idempotency_key)" value="([^"]*)"', html))
    return html, fields


def test_citizen_files_home_care_and_sees_it_on_the_overview(client, session, login):
    citizen = make_citizen(session, municipality_code="461", name="Karen Holm Jensen")
    login(citizen)
    request_id, token = _start(client)
    _fill(client, request_id, token)
    html, fields = _check_form(client, request_id)
    assert "Check your answers" in html or "Tjek dine svar" in html
    assert "Odense Kommune" in html
    assert "Karen Holm Jensen" in html  # from the login, not asked
    assert fields["authority_id"] == "municipality-461"

    response = client.post(f"/ansoegninger/{request_id}/send", data=fields)
    assert response.status_code == 303
    req = session.get(Request, request_id)
    session.refresh(req)
    assert req.status == RequestStatus.FILED
    assert re.fullmatch(r"IG-\d{4}-\d{6}", req.reference)
    assert req.municipality_code == "461"
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.job == "portal.jobs.route_request")) == 1
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "request.filed", AuditEntry.request_id == request_id))

    receipt = client.get(response.headers["Location"]).get_data(as_text=True)
    assert req.reference in receipt
    assert "Odense Kommune" in receipt
    assert "Din ansøgning går til Odense Kommune" in receipt
    assert 'hx-trigger="every 2s"' in receipt  # polls while the worker routes it

    page = client.get("/mine")
    assert "HX-Request" in page.headers["Vary"]
    assert req.reference in page.get_data(as_text=True)
    partial = client.get("/mine", headers={"HX-Request": "true", "HX-Target": "my-requests"}).get_data(as_text=True)
    assert partial.lstrip().startswith('<div id="my-requests"')
    assert "<html" not in partial


def test_double_submit_files_once(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    _fill(client, request_id, token)
    _html, fields = _check_form(client, request_id)
    first = client.post(f"/ansoegninger/{request_id}/send", data=fields)
    second = client.post(f"/ansoegninger/{request_id}/send", data=fields)
    assert first.status_code == second.status_code == 303
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "request.filed")) == 1
