"""Cases through the API: an Odense client works its own cases and cannot see or touch
Aarhus's; lists filter and page; every call is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.models import (
    AuditEntry,
    AuditOutcome,
    Case,
    CaseEvent,
    CaseStatus,
    Handover,
    Message,
    RoutingRecord,
)
from portal.models.base import utcnow
from tests.api.conftest import AARHUS, ODENSE, check
from tests.factories import make_case, make_citizen, make_request


@pytest.fixture
def odense_case(session):
    citizen = make_citizen(session, municipality_code="461")
    return make_case(session, make_request(session, citizen), authority_id=ODENSE)


@pytest.fixture
def aarhus_case(session):
    citizen = make_citizen(session, municipality_code="751")
    return make_case(session, make_request(session, citizen), authority_id=AARHUS)


def _audit(session, action):
    return session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def test_odense_accepts_its_case_and_posts_a_message(odense_api, session, odense_case, odense):
    accepted = odense_api.post(f"/api/v1/cases/{odense_case.id}/accept")
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["status"] == "accepted"
    posted = odense_api.post(f"/api/v1/cases/{odense_case.id}/messages", json={"body": "Vi har modtaget din sag."})
    assert posted.status_code == 201, posted.json
    session.expire_all()
    case = session.get(Case, odense_case.id)
    assert case.status == CaseStatus.ACCEPTED
    message = session.get(Message, posted.json["id"])
    assert message.body == "Vi har modtaget din sag." and message.to_citizen
    # The actor in the audit log is the client's own service user.
    row = _audit(session, "case.accept")[-1]
    assert row.actor_id == odense.client.user_id and row.actor_authority_id == ODENSE
    detail = odense_api.get(f"/api/v1/cases/{odense_case.id}")
    assert [m["body"] for m in detail.json["messages"]] == ["Vi har modtaget din sag."]
    assert "accepted" in [e["kind"] for e in detail.json["events"]]


def test_a_message_on_an_anonymised_case_is_a_conflict_and_nothing_is_stored(odense_api, session, odense_case):
    """Retention has erased the request: a message written now would be kept for good."""
    odense_case.status = CaseStatus.CLOSED
    odense_case.closed_at = utcnow() - timedelta(days=400)
    odense_case.request.anonymised_at = utcnow()
    session.commit()
    refused = check(odense_api.post(f"/api/v1/cases/{odense_case.id}/messages", json={"body": "Hej igen"}), "post")
    assert refused.status_code == 409, refused.json
    assert refused.json["type"] == "urn:indgang:problem:case-anonymised"
    assert session.scalars(select(Message).where(Message.case_id == odense_case.id)).all() == []


@pytest.mark.parametrize("call", [
    ("get", ""), ("get", "/routing"), ("post", "/accept"), ("post", "/messages"), ("post", "/status"),
    ("post", "/reject"), ("post", "/decision"),
])
@pytest.mark.parametrize("with_body", [True, False])
def test_odense_cannot_see_or_touch_an_aarhus_case(odense_api, session, aarhus_case, call, with_body):
    # Without a body too: a write refused for its body must not tell another
    # authority's case from a missing one.
    method, suffix = call
    bodies = {"/messages": {"body": "hej"}, "/status": {"status": "in_progress"},
              "/reject": {"reason": "ikke vores", "to_authority_id": ODENSE}, "/decision": {"outcome": "bevilget"}}
    kwargs = {"json": bodies[suffix]} if suffix in bodies and with_body else {}
    theirs = getattr(odense_api, method)(f"/api/v1/cases/{aarhus_case.id}{suffix}", **kwargs)
    missing = getattr(odense_api, method)(f"/api/v1/cases/{aarhus_case.id + 100000}{suffix}", **kwargs)
    assert theirs.status_code == missing.status_code == 404
    strip = lambda body: {k: v for k, v in body.items() if k not in ("instance", "correlation_id")}  # noqa: E731
    assert strip(theirs.json) == strip(missing.json)
    denied = session.scalars(select(AuditEntry).where(AuditEntry.outcome == AuditOutcome.DENY,
                                                      AuditEntry.case_id == aarhus_case.id)).all()
    assert len(denied) == 1 and denied[0].actor_authority_id == ODENSE
    session.expire_all()
    case = session.get(Case, aarhus_case.id)
    assert case.status == CaseStatus.PENDING and case.authority_id == AARHUS
    assert session.scalar(select(Message).where(Message.case_id == aarhus_case.id)) is None


def test_the_list_shows_only_the_authoritys_cases(odense_api, aarhus_api, odense_case, aarhus_case):
    ours = odense_api.get("/api/v1/cases").json["items"]
    assert [c["id"] for c in ours] == [odense_case.id]
    assert [c["id"] for c in aarhus_api.get("/api/v1/cases").json["items"]] == [aarhus_case.id]


def test_the_list_pages_with_a_stable_cursor_and_filters(odense_api, session):
    citizen = make_citizen(session)
    cases = [make_case(session, make_request(session, citizen), authority_id=ODENSE) for _ in range(5)]
    cases[1].status = CaseStatus.ACCEPTED
    session.commit()
    seen, cursor = [], None
    while True:
        page = odense_api.get("/api/v1/cases", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200
        seen += [c["id"] for c in page.json["items"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(c.id for c in cases)
    accepted = odense_api.get("/api/v1/cases", query_string={"status": "accepted"}).json["items"]
    assert [c["id"] for c in accepted] == [cases[1].id]
    assert odense_api.get("/api/v1/cases", query_string={"service": "no-such-service"}).json["items"] == []
    assert len(odense_api.get("/api/v1/cases", query_string={"service": "home-care"}).json["items"]) == 5


def test_updated_since_finds_cases_with_newer_events(odense_api, session):
    citizen = make_citizen(session)
    old, touched = (make_case(session, make_request(session, citizen), authority_id=ODENSE) for _ in range(2))
    long_ago = utcnow() - timedelta(days=30)
    old.opened_at = touched.opened_at = long_ago
    session.add(CaseEvent(case_id=touched.id, kind="message", at=utcnow()))
    session.commit()
    since = (utcnow() - timedelta(days=1)).isoformat()
    items = odense_api.get("/api/v1/cases", query_string={"updated_since": since}).json["items"]
    assert [c["id"] for c in items] == [touched.id]


@pytest.mark.parametrize("params", [{"cursor": "garbage"}, {"cursor": "12345678901"}, {"limit": 0}, {"limit": "x"}, {"status": "lost"},
                                    {"updated_since": "yesterday"}, {"updated_since": "0001-01-01T00:00:00+14:00"}])
def test_bad_list_parameters_are_400_problems(odense_api, params):
    response = odense_api.get("/api/v1/cases", query_string=params)
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == next(iter(params))


def test_a_service_longer_than_the_openapi_limit_is_a_400(odense_api, odense_case):
    from portal.api.openapi import SERVICE_MAX_LENGTH, description

    schema = next(p["schema"] for p in description()["paths"]["/cases"]["get"]["parameters"] if p["name"] == "service")
    assert schema["maxLength"] == SERVICE_MAX_LENGTH
    response = odense_api.get("/api/v1/cases", query_string={"service": "x" * (SERVICE_MAX_LENGTH + 1)})
    assert response.status_code == 400
    assert response.json["errors"] == [{"field": "service", "message": f"a service id of at most {SERVICE_MAX_LENGTH} characters."}]
    assert odense_api.get("/api/v1/cases", query_string={"service": "x" * SERVICE_MAX_LENGTH}).status_code == 200


@pytest.mark.parametrize("raw", ['{"body": "\\ud800"}', '{"body": "ok \\udfff"}', "[" * 100_000,
                                 '{"body": ' + "[" * 100_000 + "}"], ids=["ud800", "udfff", "deep", "deep-in-body"])
@pytest.mark.parametrize("with_key", [False, True])
def test_a_lone_surrogate_or_deep_nesting_in_a_body_is_a_400(odense_api, session, odense_case, raw, with_key):
    headers = {"Idempotency-Key": "bad-body-1"} if with_key else {}
    response = odense_api.post(f"/api/v1/cases/{odense_case.id}/messages", data=raw,
                               content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert response.json["title"] == "Malformed JSON"
    assert session.scalar(select(func.count()).select_from(Message).where(Message.case_id == odense_case.id)) == 0


def test_reject_hands_the_case_to_another_authority(odense_api, session, odense_case):
    response = odense_api.post(f"/api/v1/cases/{odense_case.id}/reject",
                               json={"reason": "Borgeren bor i Aarhus", "to_authority_id": AARHUS})
    assert response.status_code == 200, response.json
    handover = session.get(Handover, response.json["handover"]["id"])
    assert (handover.from_authority_id, handover.to_authority_id) == (ODENSE, AARHUS)
    # The case is Aarhus's now: Odense can no longer read it.
    assert odense_api.get(f"/api/v1/cases/{odense_case.id}").status_code == 404


def test_invalid_changes_are_422_problems_with_field_errors(odense_api, odense_case):
    response = odense_api.post(f"/api/v1/cases/{odense_case.id}/status", json={"status": "closed"})
    assert response.status_code == 422
    assert response.json["errors"] == [{"field": "status", "message": "That status change is not allowed."}]
    missing = odense_api.post(f"/api/v1/cases/{odense_case.id}/reject", json={"reason": "x"})
    assert missing.status_code == 422
    assert {"field": "to_authority_id", "message": "This field is required."} in missing.json["errors"]


def test_a_stale_version_is_a_409_problem(odense_api, odense_case):
    response = odense_api.post(f"/api/v1/cases/{odense_case.id}/accept", json={"expected_version": odense_case.version + 5})
    assert response.status_code == 409
    assert response.json["type"] == "urn:indgang:problem:stale-case"


STALE_CALLS = {
    "status": {"status": "in_progress"},
    "reject": {"reason": "Hører under Udbetaling Danmark", "to_authority_id": "state-udbetaling-danmark"},
    "decision": {"outcome": "Bevilget."},
}


@pytest.mark.parametrize(("call", "body"), STALE_CALLS.items(), ids=STALE_CALLS.keys())
def test_a_case_changed_by_someone_else_during_the_call_is_a_409_problem(app, odense_api, session, odense_case,
                                                                         call, body):
    from portal.db import database
    from portal.models import User
    from portal.services import cases
    from tests.factories import make_staff

    worker = make_staff(session, authority_id=ODENSE)
    cases.accept_case(session, worker, odense_case.id)
    # A caseworker changes the case in a session of their own; the API call's session
    # still holds the case as it was loaded, so its change finds another version.
    with database(app).sessionmaker() as other:
        cases.assign(other, other.get(User, worker.id), odense_case.id, assignee_id=None)
    response = odense_api.post(f"/api/v1/cases/{odense_case.id}/{call}", json=body)
    assert response.status_code == 409, response.json
    assert response.json["type"] == "urn:indgang:problem:stale-case"
    session.expire_all()
    assert session.get(Case, odense_case.id).status == CaseStatus.ACCEPTED


def test_status_change_and_decision(odense_api, session, odense_case):
    odense_api.post(f"/api/v1/cases/{odense_case.id}/accept")
    moved = odense_api.post(f"/api/v1/cases/{odense_case.id}/status", json={"status": "in_progress"})
    assert moved.json["status"] == "in_progress"
    decided = odense_api.post(f"/api/v1/cases/{odense_case.id}/decision", json={"outcome": "Du får hjælp to gange om ugen."})
    assert decided.status_code == 200, decided.json
    assert decided.json["status"] == "decided" and decided.json["decided_at"]
    bodies = session.scalars(select(Message.body).where(Message.case_id == odense_case.id)).all()
    assert "Du får hjælp to gange om ugen." in bodies


def test_routing_decision_and_explanation_of_a_case(odense_api, session, odense_case):
    session.add(RoutingRecord(request_id=odense_case.request_id, rule_set_version=3,
                              decision={"rule_set_version": "3", "assignments": []}))
    session.commit()
    response = odense_api.get(f"/api/v1/cases/{odense_case.id}/routing")
    assert response.status_code == 200
    assert response.json["rule_set_version"] == 3
    assert response.json["decision"]["rule_set_version"] == "3"


def test_a_routed_request_explains_itself(odense_api, session, app):
    from portal.services import cases

    citizen = make_citizen(session, municipality_code="461")
    request = make_request(session, citizen, service_type_slug="home-care")
    session.commit()
    opened = cases.route_request(session, request.id)
    mine = [c for c in opened if c.authority_id == ODENSE]
    assert mine, "home care routes to the municipality of residence"
    body = odense_api.get(f"/api/v1/cases/{mine[0].id}/routing").json
    assert body["explanation"] and body["decision"]["assignments"]


def test_reading_a_case_through_the_api_leaves_the_new_reply_marked_for_the_caseworkers(
        app, login, odense_api, odense, session, odense_case):
    from portal.services.overview import reply_to_case
    from tests.factories import make_staff

    worker = make_staff(session, authority_id=ODENSE)
    session.commit()
    citizen = odense_case.request.citizen
    assert reply_to_case(session, citizen, odense_case, "Her er lægeerklæringen.", "reply-api-1") == {}
    assert odense_api.get(f"/api/v1/cases/{odense_case.id}").status_code == 200
    assert odense_api.get(f"/api/v1/cases/{odense_case.id}/routing").status_code == 200
    assert _audit(session, "case.view")[-1].actor_id == odense.client.user_id  # the read is audited
    session.expire_all()
    assert session.scalar(select(Message.read_at).where(Message.case_id == odense_case.id)) is None
    browser = login(worker, for_client=app.test_client())
    marked = f'{odense_case.reference}</a> <span class="tag reply">'
    assert marked in browser.get("/cases/").get_data(as_text=True)
    # A person opening the case reads the reply; then the inbox stops marking it.
    assert browser.get(f"/cases/{odense_case.id}").status_code == 200
    assert marked not in browser.get("/cases/").get_data(as_text=True)


def test_reads_are_audited_with_the_client_as_actor(odense_api, session, odense_case, odense):
    odense_api.get("/api/v1/cases")
    odense_api.get(f"/api/v1/cases/{odense_case.id}")
    listed, viewed = _audit(session, "case.list")[-1], _audit(session, "case.view")[-1]
    assert listed.actor_id == viewed.actor_id == odense.client.user_id
    assert listed.details["api_client"] == odense.client.client_id
    assert viewed.case_id == odense_case.id and viewed.outcome == AuditOutcome.ALLOW


def test_a_decision_is_one_change_with_its_message(odense_api, session, odense_case):
    odense_api.post(f"/api/v1/cases/{odense_case.id}/accept")
    response = odense_api.post(f"/api/v1/cases/{odense_case.id}/decision", json={"outcome": "   "})
    assert response.status_code == 422
    assert response.json["errors"] == [{"field": "outcome", "message": "Write the decision."}]
    session.expire_all()
    assert session.get(Case, odense_case.id).status == CaseStatus.ACCEPTED
    assert session.scalar(select(Message).where(Message.case_id == odense_case.id)) is None
    decided = odense_api.post(f"/api/v1/cases/{odense_case.id}/decision", json={"outcome": "Bevilget."})
    assert decided.status_code == 200
    kinds = [e.kind for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == odense_case.id))]
    assert "decided" in kinds and "message" in kinds
    assert _audit(session, "case.decide")[-1].case_id == odense_case.id
    again = odense_api.post(f"/api/v1/cases/{odense_case.id}/decision", json={"outcome": "Bevilget."})
    assert again.status_code == 422  # already decided
