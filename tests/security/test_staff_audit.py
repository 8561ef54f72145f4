"""Every change staff make through the pages (and the API) writes exactly one audit row
of its action: who (actor, their authority and role), about what (case, data subject),
when (UTC), and the request's correlation id, the one shown on the response."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, AuditOutcome, Case, Role, User
from portal.models.base import utcnow
from portal.services import cases
from tests.conftest import csrf_token
from tests.factories import make_citizen, make_request, make_staff

ODENSE, AARHUS = "municipality-461", "municipality-751"


@dataclass
class Change:
    """One change, ready to send: who sends it, how, and what its audit row is about."""

    actor: User
    send: Callable  # (client) -> response
    case_id: int | None = None
    subject_id: int | None = None


def accepted_case(session, client, login) -> tuple[Case, User, str]:
    """An Odense case accepted by a logged-in Odense caseworker, and a CSRF token."""
    citizen = make_citizen(session, municipality_code="461")
    request = make_request(session, citizen)
    session.commit()
    [case] = cases.route_request(session, request.id)
    worker = make_staff(session, ODENSE)
    session.commit()
    cases.accept_case(session, worker, case.id)
    login(worker)
    return case, worker, csrf_token(client, f"/cases/{case.id}")


def case_form(action: str, **fields) -> Callable:
    """A change of the case page: POST ``fields`` to ``/cases/<id>/<action>``."""

    def make(session, client, login) -> Change:
        case, worker, token = accepted_case(session, client, login)
        data = {"csrf_token": token, "version": case.version, **fields}
        if data.get("assignee") == "colleague":
            data["assignee"] = make_staff(session, ODENSE).id
            session.commit()
        return Change(worker, lambda c: c.post(f"/cases/{case.id}/{action}", data=data), case.id,
                      case.request.citizen_id)

    return make


def handover_accepted(session, client, login) -> Change:
    case, odense_worker, _token = accepted_case(session, client, login)
    cases.reject_case(session, odense_worker, case.id, reason="Borgeren er flyttet", to_authority_id=AARHUS)
    aarhus_worker = make_staff(session, AARHUS)
    session.commit()
    login(aarhus_worker)
    token = csrf_token(client, f"/cases/{case.id}")
    return Change(aarhus_worker, lambda c: c.post(f"/cases/{case.id}/accept", data={"csrf_token": token}),
                  case.id, case.request.citizen_id)


def dashboard_viewed(session, client, login) -> Change:
    """The dashboard is audited when it lists cases: the history has a stuck one."""
    from portal.services import stats
    from tests.stats import history
    from tests.stats.test_stats_service import insert_history

    insert_history(session)
    stats.refresh(session, as_of=history.AS_OF)
    coordinator = make_staff(session, history.M461, role=Role.COORDINATOR)
    session.commit()
    login(coordinator)
    return Change(coordinator, lambda c: c.get("/stats/"))


def plan_printed(session, client, login) -> Change:
    from portal.services import plans

    citizen = make_citizen(session, municipality_code="461")
    request = make_request(session, citizen, service_type_slug="hospital-discharge")
    session.commit()
    cases.route_request(session, request.id)
    plan = plans.start_plan(session, citizen, consent_to=["region-1083", ODENSE])
    worker = make_staff(session, ODENSE)
    session.commit()
    login(worker)
    return Change(worker, lambda c: c.get(f"/plans/{plan.id}/print"), subject_id=citizen.id)


def api_client(session, client):
    from tests.api.conftest import get_token, new_client

    made = new_client(session, ODENSE)
    return session.get(User, made.client.user_id), {"Authorization": f"Bearer {get_token(client, made)}"}


def webhook_created(session, client, login) -> Change:
    service_user, bearer = api_client(session, client)
    body = {"url": "http://127.0.0.1:9/hook", "events": ["case.created"]}
    return Change(service_user, lambda c: c.post("/api/v1/webhooks", json=body, headers=bearer))


def webhook_deleted(session, client, login) -> Change:
    from portal.services import webhooks

    service_user, bearer = api_client(session, client)
    subscription = webhooks.subscribe(session, actor=service_user, authority_id=ODENSE, url="http://127.0.0.1:9/hook",
                                      events=["case.created"], production=False)
    return Change(service_user, lambda c: c.delete(f"/api/v1/webhooks/{subscription.id}", headers=bearer))


CHANGES = {
    "case.status": (case_form("status", status="in_progress"), 303),
    "case.assign": (case_form("assign", assignee="colleague"), 303),
    "case.deadline.suspend": (case_form("deadline", kind="suspend", days="3", deadline_reason="Venter på svar"), 303),
    "case.deadline.extend": (case_form("deadline", kind="extend", days="1", deadline_reason="Sygdom"), 303),
    "case.message": (case_form("message", body="Vi har modtaget din ansøgning.", idempotency_key="m-1"), 303),
    "handover.accept": (handover_accepted, 303),
    "stats.dashboard_viewed": (dashboard_viewed, 200),
    "plan.print": (plan_printed, 200),
    "webhook.create": (webhook_created, 201),
    "webhook.delete": (webhook_deleted, 204),
}


def rows_of(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.mark.parametrize("action", CHANGES)
def test_a_staff_change_writes_one_complete_audit_row(client, login, session, action):
    make, status = CHANGES[action]
    change = make(session, client, login)
    before = len(rows_of(session, action))
    response = change.send(client)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    [row] = rows_of(session, action)[before:]
    actor = change.actor
    assert (row.actor_id, row.actor_authority_id, row.actor_role, row.outcome) == (
        actor.id, actor.authority_id, actor.role.value, AuditOutcome.ALLOW)
    assert (row.case_id, row.subject_id) == (change.case_id, change.subject_id)
    assert row.at.utcoffset() == timedelta(0)
    assert abs(utcnow() - row.at) < timedelta(minutes=1)
    assert row.correlation_id == response.headers["X-Correlation-ID"]


def test_a_stale_status_form_changes_nothing_and_writes_no_status_row(client, login, session):
    case, worker, token = accepted_case(session, client, login)
    shown = case.version
    assert client.post(f"/cases/{case.id}/status", data={"csrf_token": token, "status": "in_progress",
                                                         "version": shown}).status_code == 303
    before = len(rows_of(session, "case.status"))
    stale = client.post(f"/cases/{case.id}/status", data={"csrf_token": token, "status": "decided",
                                                          "version": shown})
    assert stale.status_code == 303  # back to the case, with a notice
    assert len(rows_of(session, "case.status")) == before
    assert session.get(Case, case.id).status.value == "in_progress"
