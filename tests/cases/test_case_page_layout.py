"""The case page: the action that fits the status first, the rest folded, a handover
banner, authorities grouped by level with a type-ahead by name, one timeline."""

from __future__ import annotations

import re

from portal.models import Case, CaseStatus, Handover
from portal.services import cases
from tests.conftest import csrf_token
from tests.factories import make_citizen, make_request, make_staff


def routed(session):
    citizen = make_citizen(session)
    request = make_request(session, citizen)
    session.commit()
    return cases.route_request(session, request.id)[0]


def test_a_pending_case_offers_accept_and_reject_first_and_folds_the_rest(client, session, login):
    case = routed(session)
    login(make_staff(session, authority_id=case.authority_id))
    session.commit()
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    next_step = html[html.index('id="next-step-title"'):html.index("</section>", html.index('id="next-step-title"'))]
    assert "/accept" in next_step and "/reject" in next_step
    assert re.search(r"<details[^>]*>\s*<summary>(Fordel|Assign)</summary>", html)
    assert "<optgroup" in html and 'list="authority-names"' in html


def test_reject_by_typed_name_sends_the_case_on_and_the_receiver_sees_why(client, session, login):
    case = routed(session)
    worker = make_staff(session, authority_id=case.authority_id)
    session.commit()
    login(worker)
    token = csrf_token(client, f"/cases/{case.id}")
    response = client.post(f"/cases/{case.id}/reject", data={
        "csrf_token": token, "version": case.version, "reason": "Belongs to the state pension",
        "to_authority": "", "to_authority_name": "  udbetaling danmark "})
    assert response.status_code == 303
    session.expire_all()
    handover = session.query(Handover).filter_by(case_id=case.id).one()
    assert handover.to_authority_id == "state-udbetaling-danmark"
    moved = session.get(Case, case.id)
    receiver = make_staff(session, authority_id=moved.authority_id)
    session.commit()
    login(receiver)
    html = client.get(f"/cases/{moved.id}").get_data(as_text=True)
    assert 'class="alert alert-info handover-banner"' in html
    assert "Belongs to the state pension" in html
    timeline = html[html.index('class="timeline"'):]
    assert "timeline-handover" in timeline and "timeline-event" in timeline


def test_an_unknown_typed_name_is_refused_and_nothing_changes(client, session, login):
    case = routed(session)
    login(make_staff(session, authority_id=case.authority_id))
    session.commit()
    token = csrf_token(client, f"/cases/{case.id}")
    response = client.post(f"/cases/{case.id}/reject", data={
        "csrf_token": token, "version": case.version, "reason": "Wrong place", "to_authority_name": "udbe"})
    assert response.status_code == 422
    session.expire_all()
    assert session.get(Case, case.id).status == CaseStatus.PENDING
