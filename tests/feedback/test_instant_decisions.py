"""Instant decisions: housing benefit decided at once by the worker when every rule is
met, and sent to Udbetaling Danmark's caseworkers with the rule outcomes when not;
review sampling, confirm and overturn (audited), the receipt's htmx block."""

from __future__ import annotations

from datetime import date

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from portal import jobs
from portal.models import (
    AuditEntry,
    AuditOutcome,
    Case,
    CaseEvent,
    CaseStatus,
    DecisionCheck,
    Notification,
    RequestStatus,
    Role,
    SurveyInvitation,
)
from portal.redis_conn import get_redis
from portal.services import decisions
from portal.services.outbox import add_job, relay
from tests.conftest import csrf_token
from tests.factories import make_citizen, make_request, make_staff
from tests.support.pages import assert_error_links_resolve

UDK = "state-udbetaling-danmark"
GOOD = {"rent": 6500, "adults": 1, "moved_in_on": "2025-05-01"}


def file_housing_benefit(session, answers, *, born=date(1980, 5, 17), **citizen_overrides):
    citizen = make_citizen(session, birth_date=born, **citizen_overrides)
    request = make_request(session, citizen, service_type_slug="housing-benefit", answers=answers,
                           status=RequestStatus.FILED)
    add_job(session, jobs.route_request, request_id=request.id)
    session.commit()
    return request, citizen


def run_worker(app, session):
    redis = get_redis(app)
    relay(session, redis)
    with app.app_context():
        SimpleWorker(["high", "default", "low"], connection=redis).work(burst=True)
    session.expire_all()


def test_housing_benefit_meeting_the_rules_is_decided_at_once_by_the_worker(app, session):
    request, citizen = file_housing_benefit(session, GOOD)
    run_worker(app, session)
    case = session.scalar(select(Case).where(Case.request_id == request.id))
    assert case.authority_id == UDK and case.status == CaseStatus.DECIDED and case.decided_at is not None
    check = session.scalar(select(DecisionCheck).where(DecisionCheck.request_id == request.id))
    assert (check.instant, check.outcome, check.rule_set_version, check.case_id) == (True, "granted", 1, case.id)
    decided = session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "decided"))
    assert decided.data["instant"] is True and decided.data["rule_set_version"] == 1
    assert decided.data["outcome"] == "granted"
    row = session.scalar(select(AuditEntry).where(AuditEntry.action == "decision.instant",
                                                  AuditEntry.case_id == case.id))
    assert row.details["rule_set_version"] == 1 and row.subject_id == citizen.id
    # The citizen is told, and asked how it went.
    assert session.scalar(select(Notification).where(Notification.key == f"instant-decision:{case.id}"))
    assert session.scalar(select(SurveyInvitation).where(SurveyInvitation.case_id == case.id))


def test_housing_benefit_not_meeting_a_rule_goes_to_udbetaling_danmarks_inbox_with_the_outcomes(
        app, session, client, login):
    request, _ = file_housing_benefit(session, {**GOOD, "rent": 15000})
    run_worker(app, session)
    case = session.scalar(select(Case).where(Case.request_id == request.id))
    assert case.status == CaseStatus.PENDING and case.authority_id == UDK
    check = session.scalar(select(DecisionCheck).where(DecisionCheck.request_id == request.id))
    assert (check.instant, check.outcome) == (False, "undecided")
    statuses = {r["rule_id"]: r["status"] for r in check.evaluation["results"]}
    assert statuses == {"of-age": "met", "lives-in-denmark": "met", "rent-within-limit": "not_met",
                        "household-size": "met"}
    worker = make_staff(session, authority_id=UDK)
    session.commit()
    login(worker)
    inbox = client.get("/cases/").get_data(as_text=True)
    assert case.reference in inbox
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Afgørelsesregler" in page
    assert "rent-within-limit" in page and "Din husleje er over 12.000 kr." in page


def test_a_missing_registry_fact_is_never_guessed(session):
    request, _ = file_housing_benefit(session, GOOD, born=None)
    from portal.services import cases

    cases.route_request(session, request.id)
    check = decisions.decide_at_once(session, request.id)
    assert check.outcome == "undecided"
    age = next(r for r in check.evaluation["results"] if r["rule_id"] == "of-age")
    assert (age["status"], age["missing"]) == ("unknown", ["age"])


def test_deciding_twice_leaves_one_check_and_one_decision(session):
    from portal.services import cases

    request, _ = file_housing_benefit(session, GOOD)
    cases.route_request(session, request.id)
    first = decisions.decide_at_once(session, request.id)
    second = decisions.decide_at_once(session, request.id)
    assert first.id == second.id
    case_id = first.case_id
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "decided"))
    assert len(list(events)) == 1


def test_services_without_decision_rules_are_left_to_caseworkers(session):
    from portal.services import cases

    citizen = make_citizen(session, birth_date=date(1950, 1, 1))
    request = make_request(session, citizen, service_type_slug="home-care", answers={})
    session.commit()
    cases.route_request(session, request.id)
    assert decisions.decide_at_once(session, request.id) is None


def test_review_sampling_is_deterministic_and_near_the_share():
    picked = [decisions.flagged_for_review(case_id, 0.2) for case_id in range(1, 5001)]
    assert picked == [decisions.flagged_for_review(case_id, 0.2) for case_id in range(1, 5001)]
    assert 0.17 < sum(picked) / len(picked) < 0.23
    assert not any(decisions.flagged_for_review(i, 0) for i in range(100))
    assert all(decisions.flagged_for_review(i, 1) for i in range(100))


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_the_configured_share_is_flagged_for_review(session, share):
    check, _ = _decided(session, share=share)
    assert check.instant and check.review_flagged is (share == 1.0)


def test_routing_decides_at_once_in_the_same_transaction(session):
    """Routing runs the decision rules itself: the check exists as soon as the cases
    do, and asking again later changes nothing."""
    from portal.services import cases

    request, _ = file_housing_benefit(session, GOOD)
    case = cases.route_request(session, request.id)[0]
    check = decisions.check_for_request(session, request.id)
    assert check is not None and check.case_id == case.id and case.status == CaseStatus.DECIDED
    assert decisions.decide_at_once(session, request.id).id == check.id


def _decided(session, share=1.0):
    """A housing benefit request routed (and so decided at once) with ``share`` of
    instant decisions sampled for review."""
    from flask import current_app

    from portal.services import cases

    request, citizen = file_housing_benefit(session, GOOD)
    saved = current_app.config.get("INSTANT_DECISION_REVIEW_SHARE")
    current_app.config["INSTANT_DECISION_REVIEW_SHARE"] = share
    try:
        cases.route_request(session, request.id)
    finally:
        current_app.config["INSTANT_DECISION_REVIEW_SHARE"] = saved
    return decisions.check_for_request(session, request.id), citizen


def test_a_caseworker_overturns_an_instant_decision_and_the_citizen_reads_why(session, client, login, login_as):
    check, citizen = _decided(session)
    worker = make_staff(session, authority_id=UDK)
    session.commit()
    login(worker)
    listing = client.get("/cases/instant-decisions").get_data(as_text=True)
    case = session.get(Case, check.case_id)
    assert case.reference in listing
    token = csrf_token(client, f"/cases/{case.id}")
    bad = client.post(f"/cases/{case.id}/decision/overturn", data={"csrf_token": token, "overturn_to": "refused"})
    assert bad.status_code == 400 and 'href="#overturn_reason"' in bad.get_data(as_text=True)
    ok = client.post(f"/cases/{case.id}/decision/overturn", data={
        "csrf_token": token, "overturn_to": "refused", "overturn_reason": "Du ejer boligen og lejer den ikke."})
    assert ok.status_code == 303
    session.expire_all()
    check = session.get(DecisionCheck, check.id)
    assert (check.review_outcome, check.overturned_to, check.reviewed_by_id) == ("overturned", "refused", worker.id)
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "decision.overturn",
                                                   AuditEntry.case_id == case.id)).actor_id == worker.id
    assert case.reference not in client.get("/cases/instant-decisions").get_data(as_text=True)
    login_as(citizen)
    receipt = client.get(f"/ansoegninger/{case.request_id}").get_data(as_text=True)
    assert "Du ejer boligen og lejer den ikke." in receipt


def test_confirming_is_audited_and_only_once(session, client, login):
    check, _ = _decided(session)
    worker = make_staff(session, authority_id=UDK)
    session.commit()
    decisions.confirm(session, worker, check.case_id)
    assert session.get(DecisionCheck, check.id).review_outcome == "confirmed"
    with pytest.raises(decisions.InvalidReview):
        decisions.confirm(session, worker, check.case_id)


def test_review_errors_link_to_what_they_are_about(session, client, login):
    check, _ = _decided(session)
    worker = make_staff(session, authority_id=UDK)
    session.commit()
    login(worker)
    token = csrf_token(client, f"/cases/{check.case_id}")
    no_choice = client.post(f"/cases/{check.case_id}/decision/overturn", data={"csrf_token": token})
    assert no_choice.status_code == 400
    assert "overturn_to" in assert_error_links_resolve(no_choice.get_data(as_text=True))
    assert client.post(f"/cases/{check.case_id}/decision/confirm", data={"csrf_token": token}).status_code == 303
    twice = client.post(f"/cases/{check.case_id}/decision/confirm", data={"csrf_token": token})
    assert assert_error_links_resolve(twice.get_data(as_text=True)) == ["review"]


def test_another_authority_cannot_review_and_is_recorded_as_denied(session, client, login, login_as):
    check, _ = _decided(session)
    outsider = make_staff(session, authority_id="municipality-461")
    citizen = make_citizen(session)
    session.commit()
    login(outsider)
    token = csrf_token(client, "/cases/")
    response = client.post(f"/cases/{check.case_id}/decision/confirm", data={"csrf_token": token})
    assert response.status_code == 404
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "decision.confirm",
                                                   AuditEntry.outcome == AuditOutcome.DENY))
    login_as(citizen)
    token = csrf_token(client, "/mine")
    assert client.post(f"/cases/{check.case_id}/decision/confirm", data={"csrf_token": token}).status_code == 403
    assert citizen.role == Role.CITIZEN


def test_the_receipt_shows_the_decision_with_reasons_and_how_to_appeal(session, client, login):
    check, citizen = _decided(session, share=0.0)
    session.commit()
    login(citizen)
    html = client.get(f"/ansoegninger/{check.request_id}").get_data(as_text=True)
    assert "Din ansøgning er bevilget." in html
    assert "Din husleje er højst 12.000 kr. om måneden." in html
    assert "Ankestyrelsen" in html and "4 uger" in html and 'href="/tjenester/appeal"' in html
    partial = client.get(f"/mine/requests/{check.request_id}/decision",
                         headers={"HX-Request": "true", "HX-Target": "instant-decision"})
    assert partial.status_code == 200 and "Vary" in partial.headers and "HX-Request" in partial.headers["Vary"]
    assert "<html" not in partial.get_data(as_text=True) and "bevilget" in partial.get_data(as_text=True)
    assert client.get(f"/mine/requests/{check.request_id}/decision").status_code == 303  # no htmx: the receipt


def test_the_receipt_polls_until_the_rules_have_run(session, client, login, login_as):
    request, citizen = file_housing_benefit(session, GOOD)
    login(citizen)
    html = client.get(f"/ansoegninger/{request.id}").get_data(as_text=True)
    assert f'hx-get="/mine/requests/{request.id}/decision"' in html and 'hx-trigger="every 2s"' in html
    other = make_citizen(session)
    session.commit()
    login_as(other)
    assert client.get(f"/mine/requests/{request.id}/decision", headers={"HX-Request": "true"}).status_code == 404
