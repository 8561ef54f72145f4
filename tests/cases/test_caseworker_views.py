"""The caseworker's pages: scope, escaping, htmx partials, CSRF, audit, actions."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.models import AuditEntry, AuditOutcome, Case, CaseStatus, Handover, RequestStatus, Role
from portal.services import cases
from tests.conftest import csrf_token
from tests.factories import make_citizen, make_request, make_staff


def routed(session, **overrides):
    citizen = make_citizen(session)
    request = make_request(session, citizen, **overrides)
    session.commit()
    return cases.route_request(session, request.id)[0]


def on_a_case(client, session, login):
    """A routed case and a logged-in caseworker of its authority, with a CSRF token."""
    case = routed(session)
    worker = make_staff(session)
    session.commit()
    login(worker)
    return case, worker, csrf_token(client, f"/cases/{case.id}")


def audit_count(session, **where):
    stmt = select(func.count()).select_from(AuditEntry)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, key) == value)
    return session.scalar(stmt)


def test_inbox_full_page_and_htmx_partial(client, session, login):
    case = routed(session)
    worker = make_staff(session)
    session.commit()
    login(worker)
    page = client.get("/cases/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and case.reference in html
    assert "HX-Request" in page.headers["Vary"]
    partial = client.get("/cases/?status=pending", headers={"HX-Request": "true", "HX-Target": "inbox-results"})
    body = partial.get_data(as_text=True)
    assert "<html" not in body and 'id="inbox-results"' in body and case.reference in body
    assert "HX-Request" in partial.headers["Vary"]
    empty = client.get("/cases/?status=closed", headers={"HX-Request": "true", "HX-Target": "inbox-results"}).get_data(as_text=True)
    assert case.reference not in empty
    assert audit_count(session, actor_id=worker.id, action="case.list") == 3


def test_a_history_restore_gets_the_whole_inbox_page(client, session, login):
    """htmx restores history (the Back button) with HX-Request but no target: the
    answer becomes the whole page, so it must be the page, not the table alone."""
    case = routed(session)
    login(make_staff(session))
    session.commit()
    restore = client.get("/cases/?status=pending", headers={
        "HX-Request": "true", "HX-History-Restore-Request": "true",
        "HX-Current-URL": "http://localhost/cases/?status=pending"})
    html = restore.get_data(as_text=True)
    assert restore.status_code == 200 and "<html" in html and case.reference in html
    assert {"HX-Request", "HX-Target"} <= {v.strip() for v in restore.headers["Vary"].split(",")}


def test_anonymous_visitors_are_sent_to_login(client):
    assert client.get("/cases/").status_code == 302


def test_citizens_cannot_see_the_inbox(client, session, login):
    login(make_citizen(session))
    session.commit()
    assert client.get("/cases/").status_code == 403


def test_another_authoritys_case_is_404_like_a_missing_one_with_a_denied_row(client, session, login):
    case = routed(session)
    stranger = make_staff(session, authority_id="municipality-101")
    session.commit()
    login(stranger)
    token = csrf_token(client, "/cases/")
    missing = client.get("/cases/999999")
    foreign = client.get(f"/cases/{case.id}")
    assert missing.status_code == foreign.status_code == 404
    assert missing.get_data(as_text=True).replace("999999", "X").count("<h1>") == foreign.get_data(as_text=True).count("<h1>")
    post = client.post(f"/cases/{case.id}/accept", data={"csrf_token": token})
    assert post.status_code == 404
    assert session.get(Case, case.id).status == CaseStatus.PENDING
    assert audit_count(session, actor_id=stranger.id, case_id=case.id, outcome=AuditOutcome.DENY) == 2


def test_citizen_text_is_escaped_for_caseworkers_and_the_view_is_audited(client, session, login):
    case = routed(session, answers={"description": "<script>alert(1)</script>"})
    worker = make_staff(session)
    session.commit()
    login(worker)
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert audit_count(session, actor_id=worker.id, case_id=case.id, action="case.view") == 1


def test_a_post_without_csrf_token_is_refused(client, session, login):
    case = routed(session)
    login(make_staff(session))
    session.commit()
    assert client.post(f"/cases/{case.id}/accept").status_code == 400
    assert session.get(Case, case.id).status == CaseStatus.PENDING


def test_reject_without_reason_shows_errors_then_hands_over(client, session, login):
    case, worker, token = on_a_case(client, session, login)
    bad = client.post(f"/cases/{case.id}/reject", data={"csrf_token": token, "reason": "", "to_authority": "",
                                                        "version": case.version})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "error-summary" in html and "<title>" in html and 'href="#reason"' in html
    good = client.post(f"/cases/{case.id}/reject", data={
        "csrf_token": token, "reason": "Hører under Udbetaling Danmark", "to_authority": "state-udbetaling-danmark",
        "version": case.version})
    assert good.status_code == 303
    handover = session.scalar(select(Handover).where(Handover.case_id == case.id))
    assert handover.to_authority_id == "state-udbetaling-danmark"
    assert client.get(f"/cases/{case.id}").status_code == 404


def test_accept_status_message_and_deadline_through_the_forms(client, session, login):
    case, worker, token = on_a_case(client, session, login)
    assert client.post(f"/cases/{case.id}/accept", data={"csrf_token": token, "version": case.version}).status_code == 303
    session.refresh(case)
    assert case.status == CaseStatus.ACCEPTED
    shown_version = case.version
    assert client.post(f"/cases/{case.id}/status", data={"csrf_token": token, "status": "in_progress",
                                                         "version": shown_version}).status_code == 303
    stale = client.post(f"/cases/{case.id}/status", data={"csrf_token": token, "status": "decided",
                                                          "version": shown_version})
    assert stale.status_code == 303  # refused as stale, shown as a notice
    session.refresh(case)
    assert case.status == CaseStatus.IN_PROGRESS
    assert client.post(f"/cases/{case.id}/message", data={"csrf_token": token, "body": "Hej",
                                                          "idempotency_key": "abc"}).status_code == 303
    assert client.post(f"/cases/{case.id}/deadline", data={"csrf_token": token, "kind": "suspend", "days": "3",
                                                           "deadline_reason": "Venter", "version": case.version}).status_code == 303
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Hej" in html and "Venter" in html


def test_failed_jobs_page_lists_and_retries(app, client, session, login):
    from rq import Queue
    from rq.registry import FailedJobRegistry

    from portal.redis_conn import get_redis

    admin = make_staff(session, role=Role.ADMINISTRATOR)
    session.commit()
    redis = get_redis(app)
    queue = Queue("default", connection=redis)
    job = queue.enqueue_call("portal.jobs.ping", job_id="broken-1")
    job.set_status("failed")
    FailedJobRegistry("default", connection=redis).add(job, exc_string="Boom")
    queue.remove(job)
    login(admin)
    html = client.get("/admin/jobs/failed").get_data(as_text=True)
    assert "broken-1" in html
    token = csrf_token(client, "/admin/jobs/failed")
    assert client.post("/admin/jobs/failed/broken-1/retry", data={"csrf_token": token}).status_code == 303
    assert "broken-1" in queue.job_ids
    assert audit_count(session, actor_id=admin.id, action="jobs.retry") == 1


def test_unroutable_requests_page_for_administrators_only(client, session, login):
    citizen = make_citizen(session)
    request = make_request(session, citizen, service_type_slug="nothing-like-this")
    session.commit()
    cases.route_request(session, request.id)
    login(make_staff(session, role=Role.ADMINISTRATOR))
    session.commit()
    assert request.reference in client.get("/admin/requests/unroutable").get_data(as_text=True)


def test_an_administrator_routes_an_unroutable_request_by_hand(client, session, login):
    citizen = make_citizen(session)
    request = make_request(session, citizen, municipality_code="999")
    session.commit()
    cases.route_request(session, request.id)
    admin = make_staff(session, role=Role.ADMINISTRATOR, authority_id=None)
    session.commit()
    login(admin)
    assert 'href="/admin/requests/unroutable"' in client.get("/").get_data(as_text=True)  # in the menu
    listing = client.get("/admin/requests/unroutable").get_data(as_text=True)
    assert f'href="/admin/requests/{request.id}/route"' in listing
    form = client.get(f"/admin/requests/{request.id}/route")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and "UnknownMunicipality" in html and "Udbetaling Danmark" in html
    assert "<textarea" in html and request.reference in html
    assert audit_count(session, actor_id=admin.id, action="request.view_unroutable", subject_id=citizen.id) == 1
    token = csrf_token(client, f"/admin/requests/{request.id}/route")
    # Without an authority: the error summary, the reason kept, nothing routed.
    bad = client.post(f"/admin/requests/{request.id}/route", data={"csrf_token": token, "authority": "",
                                                                   "reason": "Flyttet til Odense"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "<title>Fejl:" in html and 'href="#authority"' in html and "Flyttet til Odense</textarea>" in html
    assert 'aria-invalid="true"' in html
    session.expire_all()
    assert session.get(type(request), request.id).status == RequestStatus.UNROUTABLE
    good = client.post(f"/admin/requests/{request.id}/route", data={
        "csrf_token": token, "authority": "municipality-461", "reason": "Flyttet til Odense"})
    assert good.status_code == 303 and good.location.endswith("/admin/requests/unroutable")
    page = client.get("/admin/requests/unroutable").get_data(as_text=True)
    assert f"{request.reference}-1" in page and "Odense Kommune" in page  # the flash names case and authority
    assert "<table" not in page  # nothing waits any more
    [case] = session.scalars(select(Case).where(Case.request_id == request.id))
    assert case.authority_id == "municipality-461" and case.status == CaseStatus.PENDING
    # The form of a routed request sends the next administrator back to the list.
    again = client.get(f"/admin/requests/{request.id}/route")
    assert again.status_code == 303
    late = client.post(f"/admin/requests/{request.id}/route", data={
        "csrf_token": token, "authority": "municipality-101", "reason": "For sent"})
    assert late.status_code == 303
    assert session.scalar(select(func.count()).select_from(Case).where(Case.request_id == request.id)) == 1
    # The citizen's "who has seen my data" names both the look and the routing.
    login(citizen)
    access = client.get("/mine/privacy/").get_data(as_text=True)
    assert "Så din ansøgning for at sende den til den rigtige myndighed" in access
    assert "Sendte manuelt din ansøgning til den rigtige myndighed" in access
    assert "<td>Indgang</td>" in access  # the administrator has no authority: the service itself


def test_routing_by_hand_is_for_administrators_and_real_requests(client, session, login):
    citizen = make_citizen(session)
    request = make_request(session, citizen, municipality_code="999")
    draft = make_request(session, citizen, status=RequestStatus.DRAFT)
    session.commit()
    cases.route_request(session, request.id)
    login(make_staff(session))
    session.commit()
    assert client.get(f"/admin/requests/{request.id}/route").status_code == 403
    login(make_staff(session, role=Role.ADMINISTRATOR, authority_id=None))
    session.commit()
    assert client.get(f"/admin/requests/{draft.id}/route").status_code == 404
    assert client.get("/admin/requests/999999/route").status_code == 404
    token = csrf_token(client, f"/admin/requests/{request.id}/route")
    assert client.post(f"/admin/requests/{draft.id}/route", data={
        "csrf_token": token, "authority": "municipality-461", "reason": "Nej"}).status_code == 404
    assert client.post(f"/admin/requests/{request.id}/route", data={
        "authority": "municipality-461", "reason": "Uden CSRF"}).status_code == 400
    session.expire_all()
    assert session.get(type(request), request.id).status == RequestStatus.UNROUTABLE


def test_caseworkers_cannot_see_the_administrators_pages(client, session, login):
    login(make_staff(session))
    session.commit()
    assert client.get("/admin/requests/unroutable").status_code == 403
    assert client.get("/admin/jobs/failed").status_code == 403


def test_the_case_page_lists_attachments_as_downloads(client, session, login):
    from portal.models import Attachment

    case = routed(session)
    attachment = Attachment(request_id=case.request_id, filename="laegeerklaering.pdf", stored_name="x" * 32,
                            content_type="application/pdf", size=2048, sha256="0" * 64)
    session.add(attachment)
    login(make_staff(session))
    session.commit()
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f'href="/bilag/{attachment.id}"' in html and "laegeerklaering.pdf" in html


def test_a_nul_character_in_a_form_is_refused_with_a_message_and_changes_nothing(client, session, login):
    """PostgreSQL cannot store NUL: such text is refused before any view runs."""
    from portal.models import Message

    case, worker, token = on_a_case(client, session, login)
    before = audit_count(session, case_id=case.id)
    for field in ("body", "idempotency_key"):
        data = {"csrf_token": token, "body": "Hej", "idempotency_key": "nul-1", field: "Hej\x00med"}
        answer = client.post(f"/cases/{case.id}/message", data=data)
        assert answer.status_code == 400
        assert "kontroltegn" in answer.get_data(as_text=True)
    assert client.get("/cases/?status=pending\x00").status_code == 400
    assert session.scalar(select(func.count()).select_from(Message).where(Message.case_id == case.id)) == 0
    assert audit_count(session, case_id=case.id) == before


def test_an_api_clients_service_user_is_not_offered_or_accepted_as_assignee(client, session, login):
    from tests.api.conftest import new_client

    case = routed(session)
    worker = make_staff(session, name="Karen Sagsbehandler")
    from portal.models import User

    made = new_client(session, "municipality-461")
    service_user = session.get(User, made.client.user_id)
    session.commit()
    login(worker)
    token = csrf_token(client, f"/cases/{case.id}")
    client.post(f"/cases/{case.id}/accept", data={"csrf_token": token, "version": case.version})
    session.refresh(case)
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f'<option value="{worker.id}"' in page and f'<option value="{service_user.id}"' not in page
    refused = client.post(f"/cases/{case.id}/assign", data={"csrf_token": token, "assignee": service_user.id,
                                                            "version": case.version})
    assert refused.status_code == 422 and "Vælg en sagsbehandler" in refused.get_data(as_text=True)
    session.refresh(case)
    assert case.assignee_id == worker.id  # accepting took the case; the refused change left it so


def test_an_assignee_of_another_authority_slipped_into_the_form_is_refused(client, session, login):
    """The assignee select offers only the case's authority; a tampered body naming an
    Aarhus caseworker is refused like any bad choice, and the case keeps its assignee."""
    case, worker, token = on_a_case(client, session, login)
    aarhus_worker = make_staff(session, authority_id="municipality-751", name="Anders Aarhus")
    session.commit()
    client.post(f"/cases/{case.id}/accept", data={"csrf_token": token, "version": case.version})
    session.refresh(case)
    assert f'<option value="{aarhus_worker.id}"' not in client.get(f"/cases/{case.id}").get_data(as_text=True)
    assigned_before = audit_count(session, case_id=case.id, action="case.assign")
    refused = client.post(f"/cases/{case.id}/assign", data={"csrf_token": token, "assignee": aarhus_worker.id,
                                                            "version": case.version})
    assert refused.status_code == 422 and "Vælg en sagsbehandler" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Case, case.id).assignee_id == worker.id
    assert audit_count(session, case_id=case.id, action="case.assign") == assigned_before


def test_the_inbox_marks_a_case_with_an_unread_reply_until_someone_opens_it(client, session, login):
    from portal.services.overview import reply_to_case

    case = routed(session)
    other = routed(session)
    worker = make_staff(session)
    session.commit()
    assert reply_to_case(session, case.request.citizen, case, "Her er lægeerklæringen.", "reply-inbox") == {}
    login(worker)

    def marked():
        html = client.get("/cases/", headers={"HX-Request": "true", "HX-Target": "inbox-results"}).get_data(as_text=True)
        rows = {ref: row for row in html.split("<tr>")[2:] for ref in (case.reference, other.reference) if ref in row}
        return {ref for ref, row in rows.items() if "Nyt svar" in row}

    assert marked() == {case.reference}
    assert client.get(f"/cases/{case.id}").status_code == 200
    assert marked() == set()
