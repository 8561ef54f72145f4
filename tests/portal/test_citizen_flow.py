"""Filing through the web pages with the Flask test client: the whole flow, errors on
the way, drafts, the receipt, the overview, cases and replies."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.models import (
    AuditEntry,
    CaseEvent,
    EventKind,
    Message,
    OutboxMessage,
    Request,
    RequestStatus,
)
from tests.conftest import csrf_token
from tests.factories import make_case, make_citizen, make_request, make_staff

HOME_CARE_ANSWERS = [
    ("help", {"help_type": "practical"}),
    ("need", {"need_description": "Jeg kan ikke gøre rent eller handle ind."}),
    ("since", {"need_since": "1 3 2026"}),
    ("relatives", {"lives_alone": "yes"}),
]


@pytest.fixture
def login(login):
    """The shared ``login``, also forgetting the user cached on ``g``: with the
    ``session`` fixture's app context active, requests share ``g`` with the test."""

    def _login(user, for_client=None):
        from flask import g, has_app_context

        result = login(user, for_client)
        if has_app_context():
            g.pop("current_user", None)
            g.pop("csrf_token", None)
        return result

    return _login


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


def test_the_filing_post_reads_and_writes_each_row_once(client, session, login, sql_statements):
    login(make_citizen(session))
    request_id, token = _start(client)
    _fill(client, request_id, token)
    _html, fields = _check_form(client, request_id)
    session.expunge_all()  # as in production, the POST starts with an empty session
    session.info.clear()
    sql_statements.clear()
    assert client.post(f"/ansoegninger/{request_id}/send", data=fields).status_code == 303
    done = [re.match(r"(SELECT\s.*?\sFROM|UPDATE|INSERT INTO)\s+(\w+)", s.strip(), re.S)[2] for s in sql_statements]
    # The user; the request with its service definition; the rule set in force; then
    # the request, its audit row and its outbox row. No attachments (none required).
    assert done == ["users", "requests", "rule_sets", "requests", "audit_log", "outbox"]


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


# --- module config: some tests change limits ------------------------------------------------

import io  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.conftest import make_config  # noqa: E402

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 32
HTML = b"<html><script>alert(1)</script></html>"


@pytest.fixture
def app_config(request, _shared_database_url, redis_url, tmp_path):
    params = dict(getattr(request, "param", {}))
    if params.pop("queue_redis_down", False):
        # The queue's Redis is down; sessions and rate limits keep their own Redis.
        params.update(SESSION_REDIS_URL=redis_url, REDIS_URL="redis://127.0.0.1:1/0")
    return make_config(_shared_database_url, redis_url, tmp_path, **params)


def _upload(client, request_id, token, files, action="upload", slug="home-care"):
    data = {"csrf_token": token, "service_type": slug, "action": action}
    for field, (content, name) in files.items():
        data[field] = (io.BytesIO(content), name)
    return client.post(f"/ansoegninger/{request_id}/bilag", data=data, content_type="multipart/form-data")


def test_a_missing_answer_shows_an_error_summary_and_inline_error(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    response = _answer(client, request_id, token, "need", {"need_description": "   "})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<title>Fejl:" in html
    assert 'class="error-summary"' in html and 'href="#q-need_description"' in html
    assert 'id="q-need_description-error"' in html and 'aria-invalid="true"' in html
    assert "Skriv, hvad du har svært ved" in html  # the question's own message
    assert session.get(Request, request_id).answers == {}


def test_a_wrong_date_keeps_the_value_and_saves_nothing(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    for bad, message in (("31 2 2026", "Skriv en gyldig dato"), ("1 1 2999", "Datoen skal være i dag eller tidligere")):
        html = _answer(client, request_id, token, "since", {"need_since": bad}).get_data(as_text=True)
        assert message in html
        assert f'value="{bad}"' in html
    assert "need_since" not in session.get(Request, request_id).answers


def test_errors_in_english_have_an_english_title(client, session, login):
    login(make_citizen(session))
    with client.session_transaction() as sess:
        sess["locale"] = "en"
    request_id, token = _start(client)
    html = _answer(client, request_id, token, "help", {}).get_data(as_text=True)
    assert "<title>Error:" in html and "Select what kind of help you need" in html


def test_a_cpr_number_in_free_text_is_refused(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    response = _answer(client, request_id, token, "need", {"need_description": "Mit cpr er 010190-1234"})
    assert response.status_code == 400
    assert "Fjern CPR-nummeret" in response.get_data(as_text=True)
    assert session.get(Request, request_id).answers == {}


def test_html_in_free_text_is_stored_as_text_and_shown_escaped(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    _fill(client, request_id, token, [*HOME_CARE_ANSWERS[:1], ("need", {"need_description": "<script>alert('x')</script>"}), *HOME_CARE_ANSWERS[2:]])
    assert session.get(Request, request_id).answers["need_description"] == "<script>alert('x')</script>"
    html, fields = _check_form(client, request_id)
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html
    client.post(f"/ansoegninger/{request_id}/send", data=fields)
    receipt = client.get(f"/ansoegninger/{request_id}").get_data(as_text=True)
    assert "<script>alert" not in receipt and "&lt;script&gt;alert(" in receipt


def test_a_tampered_service_type_is_refused_and_changes_nothing(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    response = _answer(client, request_id, token, "help", {"help_type": "practical"}, slug="tax-question")
    assert response.status_code == 400
    assert "Formularen passede ikke til din ansøgning" in response.get_data(as_text=True)
    assert session.get(Request, request_id).answers == {}
    assert client.post("/tjenester/not-a-service/start", data={"csrf_token": token}).status_code == 404


def test_a_tampered_authority_id_is_refused_and_files_nothing(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    _fill(client, request_id, token)
    _html, fields = _check_form(client, request_id)
    response = client.post(f"/ansoegninger/{request_id}/send", data={**fields, "authority_id": "state-skattestyrelsen"})
    assert response.status_code == 400
    assert "Hvor din ansøgning skal hen, har ændret sig" in response.get_data(as_text=True)
    # Switching language on the refused page asks for this URL with GET: back to checking.
    assert client.get(f"/ansoegninger/{request_id}/send").headers["Location"].endswith(f"/ansoegninger/{request_id}/tjek")
    assert session.get(Request, request_id).status == RequestStatus.DRAFT
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_sending_with_a_missing_answer_links_back_to_the_question(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    _fill(client, request_id, token, HOME_CARE_ANSWERS[:3])
    html, fields = _check_form(client, request_id)
    response = client.post(f"/ansoegninger/{request_id}/send", data=fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "<title>Fejl:" in html
    assert f"/ansoegninger/{request_id}/trin/relatives?change=1" in html
    assert session.get(Request, request_id).status == RequestStatus.DRAFT


def test_a_draft_is_saved_and_resumed_from_the_overview(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    _answer(client, request_id, token, "help", {"help_type": "personal"})
    response = _answer(client, request_id, token, "need", {"need_description": "Bad"}, action="save")
    assert response.status_code == 303 and response.headers["Location"].endswith("/mine")
    overview = client.get("/mine").get_data(as_text=True)
    assert "Kladder" in overview and f"/ansoegninger/{request_id}/fortsaet" in overview
    resumed = client.get(f"/ansoegninger/{request_id}/fortsaet")
    assert resumed.headers["Location"].endswith(f"/ansoegninger/{request_id}/trin/since")
    step = client.get(f"/ansoegninger/{request_id}/trin/need").get_data(as_text=True)
    assert ">Bad</textarea>" in step  # completed steps stay reachable with their answers
    later = client.get(f"/ansoegninger/{request_id}/trin/relatives").get_data(as_text=True)
    indicator = later[later.index('class="step-indicator"'):]
    assert f'href="/ansoegninger/{request_id}/trin/help"' in indicator  # answered: linked
    assert f'href="/ansoegninger/{request_id}/trin/since"' not in indicator  # not yet answered
    client.post(f"/ansoegninger/{request_id}/slet", data={"csrf_token": token})
    assert session.get(Request, request_id) is None


def test_save_for_later_accepts_an_empty_answer_but_not_a_wrong_one(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    assert _answer(client, request_id, token, "since", {"need_since": ""}, action="save").status_code == 303
    wrong = _answer(client, request_id, token, "since", {"need_since": "32 1 2026"}, action="save")
    assert wrong.status_code == 400
    assert session.get(Request, request_id).answers == {}


def test_another_citizens_request_is_not_found(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    login(make_citizen(session))
    for url in (f"/ansoegninger/{request_id}/trin/help", f"/ansoegninger/{request_id}/tjek",
                f"/ansoegninger/{request_id}", f"/ansoegninger/{request_id}/bilag"):
        assert client.get(url).status_code == 404
    token = csrf_token(client, "/tjenester")
    assert _answer(client, request_id, token, "help", {"help_type": "both"}).status_code == 404


def test_staff_cannot_file(client, session, login):
    login(make_staff(session))
    token = csrf_token(client, "/tjenester")
    assert client.post("/tjenester/home-care/start", data={"csrf_token": token}).status_code == 403


def test_anonymous_visitors_browse_but_log_in_to_start(client):
    page = client.get("/tjenester?q=rengøring").get_data(as_text=True)
    assert "Hjemmehjælp" in page
    assert client.get("/mine").status_code == 302


# --- attachments -----------------------------------------------------------------------------


def test_a_pdf_is_stored_outside_the_web_root_under_a_generated_name(app, client, session, login):
    citizen = make_citizen(session)
    login(citizen)
    request_id, token = _start(client)
    response = _upload(client, request_id, token, {"file-medical": (PDF, "lægeerklæring.pdf")})
    assert response.status_code == 303
    attachment = session.get(Request, request_id).attachments[0]
    stored = Path(app.instance_path) / "uploads" / attachment.stored_name
    assert stored.read_bytes() == PDF
    assert not stored.resolve().is_relative_to(Path(app.static_folder).resolve())  # outside the web root
    assert attachment.filename == "lægeerklæring.pdf" and attachment.stored_name != attachment.filename
    assert attachment.content_type == "application/pdf"
    download = client.get(f"/bilag/{attachment.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("content", "name"),
    [(EXE, "brev.pdf"), (HTML, "brev.pdf"), (PNG, "brev.pdf"), (PDF, "brev.exe"), (b"", "tom.pdf")],
)
def test_a_disguised_or_empty_file_is_refused_and_the_rest_is_kept(client, session, login, content, name):
    login(make_citizen(session))
    request_id, token = _start(client)
    _upload(client, request_id, token, {"file-medical": (PDF, "ok.pdf")})
    response = _upload(client, request_id, token, {"file-medical": (content, name)}, action="continue")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "<title>Fejl:" in html
    assert 'href="#file-medical"' in html
    assert "ok.pdf" in html  # the file added before is still there
    assert [a.filename for a in session.get(Request, request_id).attachments] == ["ok.pdf"]


@pytest.mark.parametrize("app_config", [{"UPLOAD_MAX_BYTES": 64}], indirect=True)
def test_a_file_over_the_size_limit_gets_a_form_error(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    response = _upload(client, request_id, token, {"file-medical": (PDF + b"x" * 64, "stor.pdf")})
    assert response.status_code == 400
    assert "Filen skal være mindre end" in response.get_data(as_text=True)
    assert session.get(Request, request_id).attachments == []


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 2048}], indirect=True)
def test_a_body_over_the_request_limit_gets_413(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    response = _upload(client, request_id, token, {"file-medical": (PDF + b"x" * 4096, "stor.pdf")})
    assert response.status_code == 413
    assert session.get(Request, request_id).attachments == []
    page = response.get_data(as_text=True)
    # Says what happened and leads back to the upload page, not "try again in a moment".
    assert "Filen er for stor" in page and "prøv igen om lidt" not in page
    assert f'<a href="/ansoegninger/{request_id}/bilag">Gå tilbage til siden</a>' in page


@pytest.mark.parametrize("app_config", [{"UPLOAD_MAX_FILES": 1}], indirect=True)
def test_the_number_of_files_is_limited(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    _upload(client, request_id, token, {"file-medical": (PDF, "a.pdf")})
    response = _upload(client, request_id, token, {"file-medical": (PNG, "b.png")})
    assert response.status_code == 400 and "Du kan højst tilføje 1 filer" in response.get_data(as_text=True)


def test_a_required_attachment_must_be_added(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client, "appeal")
    _fill(client, request_id, token, [("decision", {"decision_date": "1 10 2026"}), ("reason", {"reason": "Uenig"})], slug="appeal")
    response = _upload(client, request_id, token, {}, action="continue", slug="appeal")
    assert response.status_code == 400 and "Tilføj Afgørelsen du klager over" in response.get_data(as_text=True)


def test_attachments_are_shown_only_to_the_citizen_and_the_authorities_on_the_case(client, session, login):
    citizen = make_citizen(session)
    login(citizen)
    request_id, token = _start(client)
    _upload(client, request_id, token, {"file-medical": (PNG, "foto.png")})
    _fill(client, request_id, token)
    _html, fields = _check_form(client, request_id)
    client.post(f"/ansoegninger/{request_id}/send", data=fields)
    req = session.get(Request, request_id)
    attachment_id = req.attachments[0].id
    make_case(session, req, authority_id="municipality-461")
    session.commit()

    login(make_citizen(session))
    assert client.get(f"/bilag/{attachment_id}").status_code == 404
    odense = make_staff(session, authority_id="municipality-461")
    login(odense)
    assert client.get(f"/bilag/{attachment_id}").status_code == 200
    aarhus = make_staff(session, authority_id="municipality-751")
    login(aarhus)
    assert client.get(f"/bilag/{attachment_id}").status_code == 404
    assert client.get("/bilag/999999").status_code == 404
    rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "attachment.download")).all()
    assert [(r.actor_id, r.outcome.value) for r in rows] == [(odense.id, "allow"), (aarhus.id, "deny"), (aarhus.id, "deny")]


@pytest.mark.parametrize("app_config", [{"queue_redis_down": True}], indirect=True)
def test_filing_works_while_redis_is_down_and_the_job_waits_in_the_outbox(client, session, login):
    login(make_citizen(session))
    request_id, token = _start(client)
    _fill(client, request_id, token)
    _html, fields = _check_form(client, request_id)
    assert client.post(f"/ansoegninger/{request_id}/send", data=fields).status_code == 303
    assert session.get(Request, request_id).status == RequestStatus.FILED
    assert [o.status.value for o in session.scalars(select(OutboxMessage))] == ["pending"]


# --- rate limit -------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "FILING_RATE_LIMIT": "2 per minute"}], indirect=True)
def test_filing_is_rate_limited_per_citizen(client, session, login):
    login(make_citizen(session))
    token = csrf_token(client, "/tjenester/home-care")
    codes = [client.post("/tjenester/home-care/start", data={"csrf_token": token}).status_code for _ in range(3)]
    assert codes == [303, 303, 429]
    assert session.scalar(select(func.count()).select_from(Request)) == 2
    login(make_citizen(session))  # another citizen is not limited by the first
    token = csrf_token(client, "/tjenester/home-care")
    assert client.post("/tjenester/home-care/start", data={"csrf_token": token}).status_code == 303


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "FILING_RATE_LIMIT": "2 per minute"}], indirect=True)
def test_sending_requests_is_rate_limited_per_citizen(client, session, login):
    """Sending has a budget of its own (drafts here are opened without the start page,
    whose budget is tested above): over it, 429 and the request stays a draft."""
    from portal.services.filing import start_draft

    citizen = make_citizen(session)
    drafts = [start_draft(session, citizen, "home-care").id for _ in range(3)]
    login(citizen)
    token = csrf_token(client, "/mine")
    codes = []
    for request_id in drafts:
        _fill(client, request_id, token)
        _html, fields = _check_form(client, request_id)
        codes.append(client.post(f"/ansoegninger/{request_id}/send", data=fields).status_code)
    assert codes == [303, 303, 429]
    session.expire_all()
    assert [session.get(Request, i).status for i in drafts] == [RequestStatus.FILED, RequestStatus.FILED,
                                                                 RequestStatus.DRAFT]
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    other = make_citizen(session)  # another citizen is not limited by the first
    request_id = start_draft(session, other, "home-care").id
    login(other)
    token = csrf_token(client, "/mine")
    _fill(client, request_id, token)
    _html, fields = _check_form(client, request_id)
    assert client.post(f"/ansoegninger/{request_id}/send", data=fields).status_code == 303


# --- cases and messages -----------------------------------------------------------------------


def _routed_case(session, citizen):
    from tests.factories import make_request

    req = make_request(session, citizen, status=RequestStatus.ROUTED, answers=dict(
        help_type="both", need_description="x", need_since="2026-03-01", lives_alone="no"))
    case = make_case(session, req, authority_id="municipality-461", internal_note="Intern note: ring til lægen")
    staff = make_staff(session)
    session.add(CaseEvent(case_id=case.id, kind=EventKind.OPENED, authority_id="municipality-461",
                          data={"authority_id": "municipality-461"}))
    session.add(CaseEvent(case_id=case.id, kind=EventKind.ASSIGNED, authority_id="municipality-461",
                          visible_to_citizen=False, data={"assignee_id": staff.id}))
    session.add(Message(case_id=case.id, sender_id=staff.id, to_citizen=True, body="Vi mangler en <b>lægeerklæring</b>."))
    session.commit()
    return req, case


def test_the_overview_shows_cases_across_authorities_with_status_and_messages(client, session, login):
    citizen = make_citizen(session)
    req, case = _routed_case(session, citizen)
    make_case(session, req, authority_id="region-1083", assignment_index=1)
    session.commit()
    login(citizen)
    html = client.get("/mine").get_data(as_text=True)
    assert "Odense Kommune" in html and "Region Syddanmark" in html
    assert "1 ny besked" in html
    assert "Venter på at myndigheden tager sagen" in html  # the citizen's status text
    assert 'hx-trigger' not in html  # nothing in progress: no polling


def test_the_case_page_shows_the_timeline_but_no_internal_notes(client, session, login):
    citizen = make_citizen(session)
    _req, case = _routed_case(session, citizen)
    login(citizen)
    html = client.get(f"/mine/sager/{case.id}").get_data(as_text=True)
    assert "Din ansøgning blev sendt til Odense Kommune." in html
    assert "Vi mangler en &lt;b&gt;lægeerklæring&lt;/b&gt;." in html
    assert "Intern note" not in html
    login(make_citizen(session))
    assert client.get(f"/mine/sager/{case.id}").status_code == 404


def test_a_reply_is_sent_once_and_a_cpr_number_is_refused(client, session, login):
    citizen = make_citizen(session)
    _req, case = _routed_case(session, citizen)
    login(citizen)
    token = csrf_token(client, f"/mine/sager/{case.id}")
    refused = client.post(f"/mine/sager/{case.id}/svar", data={"csrf_token": token, "body": "cpr 0101901234", "idempotency_key": "r1"})
    assert refused.status_code == 400 and "Fjern CPR-nummeret" in refused.get_data(as_text=True)
    assert "cpr 0101901234" in refused.get_data(as_text=True)  # the text is kept to correct it
    for _ in range(2):
        sent = client.post(f"/mine/sager/{case.id}/svar", data={"csrf_token": token, "body": "Her er den.", "idempotency_key": "r2"})
        assert sent.status_code == 303
    replies = session.scalars(select(Message).where(Message.case_id == case.id, Message.to_citizen.is_(False))).all()
    assert [m.body for m in replies] == ["Her er den."]
    assert "ny besked" not in client.get("/mine").get_data(as_text=True)  # read once replied
    assert "Dit svar" in client.get(f"/mine/sager/{case.id}").get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "MESSAGE_RATE_LIMIT": "3 per minute"}], indirect=True)
def test_replies_and_plan_comments_share_one_message_budget_per_person(client, session, login):
    """Every reply mails the caseworker: a person gets one budget for replies, plan
    comments and the like. Over it: 429 and nothing stored; others are not affected;
    reading is never limited."""
    from portal.services import plans

    citizen = make_citizen(session)
    _, case = _routed_case(session, citizen)
    _, other_case = _routed_case(session, citizen)
    make_case(session, make_request(session, citizen, status=RequestStatus.ROUTED), authority_id="region-1083")
    session.commit()
    plan = plans.start_plan(session, citizen, consent_to=["municipality-461", "region-1083"])
    login(citizen)
    token = csrf_token(client, f"/mine/sager/{case.id}")

    def reply(n: int, to=case) -> int:
        return client.post(f"/mine/sager/{to.id}/svar", data={"csrf_token": token, "body": f"Svar {n}",
                                                              "idempotency_key": f"k{n}"}).status_code

    assert [reply(1), reply(2, other_case)] == [303, 303]
    assert client.post(f"/plans/{plan.id}/comments", data={"csrf_token": token, "body": "Hej"}).status_code == 303
    assert reply(3) == 429
    assert client.post(f"/plans/{plan.id}/comments", data={"csrf_token": token, "body": "Igen"}).status_code == 429
    bodies = set(session.scalars(select(Message.body).where(Message.sender_id == citizen.id)))
    assert bodies == {"Svar 1", "Svar 2"}
    assert all(client.get(f"/mine/sager/{case.id}").status_code == 200 for _ in range(5))
    login(make_citizen(session))  # another citizen has a budget of their own
    assert client.post("/coordination/ask", data={"csrf_token": csrf_token(client, "/mine")}).status_code != 429
