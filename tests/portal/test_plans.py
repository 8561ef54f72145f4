"""The coordinated plan: consent, withdrawal, scoping, conflicts, templates, reminders."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import (
    Action,
    ActionStatus,
    AuditEntry,
    AuditOutcome,
    Case,
    Goal,
    OutboxMessage,
    Plan,
    PlanChange,
    PlanNotification,
    User,
)
from portal.plans.chart import progress_chart, progress_percent
from portal.services import plans as svc
from tests.conftest import csrf_token
from tests.factories import make_case, make_citizen, make_request, make_staff

REGION, AARHUS = "region-1082", "municipality-751"
TODAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def _fresh_user_per_request(app):
    """The ``session`` fixture keeps one app context open, which requests reuse, so
    ``g`` (the user, the CSRF token) would outlive a request; forget it, as a real
    request would, keeping only the shared database session."""
    from flask import g

    @app.before_request
    def _forget_request_globals() -> None:
        for name in [n for n in g if n not in ("db_session", "correlation_id")]:
            g.pop(name)


@dataclass
class Aarhus:
    citizen: User
    region_worker: User
    municipality_worker: User
    region_case: Case
    municipality_case: Case


@pytest.fixture
def aarhus(session) -> Aarhus:
    """A citizen in Aarhus with a hospital-discharge request: cases at the region
    and the municipality, and a caseworker at each."""
    citizen = make_citizen(session, municipality_code="751", name="Ane Aarhus")
    request = make_request(session, citizen, service_type_slug="hospital-discharge")
    region_case = make_case(session, request, REGION, assignment_index=0, internal_note="REGION-SECRET-NOTE")
    municipality_case = make_case(session, request, AARHUS, assignment_index=1, internal_note="KOMMUNE-SECRET-NOTE")
    session.commit()
    return Aarhus(citizen, make_staff(session, REGION, name="Rita Region"),
                  make_staff(session, AARHUS, name="Mads Kommune"), region_case, municipality_case)


def start(session, a: Aarhus, consent=(REGION, AARHUS), **kw) -> Plan:
    return svc.start_plan(session, a.citizen, consent_to=list(consent), situation="Jeg er udskrevet",
                          wishes="Klare mig selv", today=TODAY, **kw)


def goal_form(**overrides) -> dict:
    form = {"title": "Gå 1 km", "measure": "Meter", "baseline": "100", "target_value": "1000",
            "due_on": "2027-03-01", "agreed_by": "Ane og Mads"}
    form.update(overrides)
    return form


def action_form(responsible: str, **overrides) -> dict:
    form = {"title": "Genoptræning", "responsible": responsible, "responsible_name": "Mads Kommune",
            "due_on": "2026-12-02", "status": "planned"}
    form.update(overrides)
    return form


def audit_rows(session, action: str, outcome=None):
    stmt = select(AuditEntry).where(AuditEntry.action == action)
    if outcome:
        stmt = stmt.where(AuditEntry.outcome == outcome)
    return list(session.scalars(stmt.order_by(AuditEntry.id)))


# --- starting and consent -----------------------------------------------------------------


def test_a_citizen_starts_one_plan_led_by_the_municipality_of_residence(session, aarhus):
    plan = start(session, aarhus)
    assert plan.lead_authority_id == AARHUS
    assert plan.review_on == date(2027, 5, 25)
    assert {p.authority_id: p.has_consent for p in plan.participants} == {REGION: True, AARHUS: True}
    whats = [c.what for c in session.scalars(select(PlanChange).where(PlanChange.plan_id == plan.id))]
    assert whats[:3] == ["plan_started", "consent_given", "consent_given"]
    with pytest.raises(svc.PlanInvalid) as exc:
        start(session, aarhus)
    assert "plan" in exc.value.errors


def test_a_plan_needs_two_authorities_and_consent_for_the_lead(session, aarhus):
    loner = make_citizen(session, municipality_code="751")
    make_case(session, make_request(session, loner), AARHUS)
    with pytest.raises(svc.PlanInvalid) as exc:
        svc.start_plan(session, loner, consent_to=[AARHUS])
    assert "plan" in exc.value.errors
    with pytest.raises(svc.PlanInvalid) as exc:
        start(session, aarhus, consent=(REGION,))
    assert "consent" in exc.value.errors
    # An authority the citizen has no case with cannot be given consent or lead.
    with pytest.raises(svc.PlanInvalid) as exc:
        start(session, aarhus, lead_authority_id="municipality-461")
    assert "lead_authority" in exc.value.errors


def test_a_caseworker_starts_on_behalf_only_with_a_case_and_recorded_consent(session, aarhus):
    outsider = make_staff(session, "municipality-461")
    with pytest.raises(svc.PlanNotFound):
        svc.start_plan(session, outsider, citizen_id=aarhus.citizen.id, staff_consent_confirmed=True)
    assert audit_rows(session, "plan.start", AuditOutcome.DENY)[-1].actor_id == outsider.id
    with pytest.raises(svc.PlanInvalid) as exc:
        svc.start_plan(session, aarhus.region_worker, citizen_id=aarhus.citizen.id)
    assert "consent_confirmed" in exc.value.errors
    plan = svc.start_plan(session, aarhus.region_worker, citizen_id=aarhus.citizen.id,
                          lead_authority_id=REGION, staff_consent_confirmed=True, today=TODAY)
    # Only the caseworker's own authority has consent; the citizen decides the rest.
    assert {p.authority_id: p.has_consent for p in plan.participants} == {REGION: True, AARHUS: False}
    assert plan.citizen_id == aarhus.citizen.id
    change = session.scalar(select(PlanChange).where(PlanChange.plan_id == plan.id, PlanChange.what == "consent_given"))
    assert change.data["recorded_by_staff"] is True and change.actor_id == aarhus.region_worker.id


def test_an_authority_without_consent_gets_404_like_a_missing_plan_and_a_deny_row(client, login, session, aarhus):
    plan = start(session, aarhus, consent=(AARHUS,))
    login(aarhus.region_worker)
    denied = client.get(f"/plans/{plan.id}")
    missing = client.get("/plans/999999")
    assert denied.status_code == missing.status_code == 404
    # The CSRF token (in hidden fields and in htmx's headers) carries a timestamp.
    strip = lambda html: re.sub(r"<code>[^<]*</code>|value=\"[^\"]*\"|\"X-CSRFToken\": \"[^\"]*\"", "", html)  # noqa: E731
    assert strip(denied.get_data(as_text=True)) == strip(missing.get_data(as_text=True))
    rows = audit_rows(session, "plan.view", AuditOutcome.DENY)
    assert [(r.actor_id, r.details["plan_id"], r.subject_id) for r in rows[-2:]] == [
        (aarhus.region_worker.id, plan.id, aarhus.citizen.id), (aarhus.region_worker.id, 999999, None)]
    # Its partial, its export and its forms are refused the same way.
    for path in (f"/plans/{plan.id}/live?since=0", f"/plans/{plan.id}/export.json", f"/plans/{plan.id}/print",
                 f"/plans/{plan.id}/goals/new"):
        assert client.get(path, headers={"HX-Request": "true"}).status_code == 404, path


def test_withdrawing_consent_removes_access_but_not_the_case_and_is_logged_and_audited(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(aarhus.region_worker)
    assert client.get(f"/plans/{plan.id}").status_code == 200
    assert audit_rows(session, "plan.view", AuditOutcome.ALLOW)[-1].actor_id == aarhus.region_worker.id

    login(aarhus.citizen)
    token = csrf_token(client, f"/plans/{plan.id}/consent")
    page = client.get(f"/plans/{plan.id}/consent").get_data(as_text=True)
    assert "Region Midtjylland" in page
    response = client.post(f"/plans/{plan.id}/consent", data={"csrf_token": token, "authority": REGION, "give": "0"})
    assert response.status_code == 303

    change = session.scalars(select(PlanChange).where(PlanChange.plan_id == plan.id).order_by(PlanChange.id.desc())).first()
    assert (change.what, change.data["authority_id"], change.actor_id) == ("consent_withdrawn", REGION, aarhus.citizen.id)
    withdrawn = audit_rows(session, "plan.consent_withdrawn")[-1]
    assert (withdrawn.actor_id, withdrawn.subject_id, withdrawn.details["authority_id"]) == (
        aarhus.citizen.id, aarhus.citizen.id, REGION)

    login(aarhus.region_worker)
    assert client.get(f"/plans/{plan.id}").status_code == 404
    assert audit_rows(session, "plan.view", AuditOutcome.DENY)[-1].actor_id == aarhus.region_worker.id
    assert plan.id not in [p.id for p in svc.plans_for(session, aarhus.region_worker)]
    # The region's own case is untouched.
    case = session.get(Case, aarhus.region_case.id)
    assert case.authority_id == REGION and case.internal_note == "REGION-SECRET-NOTE"
    # The municipality still has the plan.
    login(aarhus.municipality_worker)
    assert client.get(f"/plans/{plan.id}").status_code == 200


def test_consent_for_an_authority_not_in_the_plan_gets_an_error_and_changes_nothing(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(aarhus.citizen)
    token = csrf_token(client, f"/plans/{plan.id}/consent")
    changes = session.scalar(select(func.count()).select_from(PlanChange))
    response = client.post(f"/plans/{plan.id}/consent", data={"csrf_token": token, "authority": "0751", "give": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'class="error-summary"' in page and "<title>Fejl:" in page
    assert session.scalar(select(func.count()).select_from(PlanChange)) == changes


def test_consent_can_be_given_again_and_only_by_the_citizen(session, aarhus):
    plan = start(session, aarhus)
    svc.set_consent(session, aarhus.citizen, plan.id, REGION, give=False)
    with pytest.raises(svc.PlanNotFound):
        svc.set_consent(session, aarhus.municipality_worker, plan.id, REGION, give=True)
    svc.set_consent(session, aarhus.citizen, plan.id, REGION, give=True)
    assert svc.authorize(session, aarhus.region_worker, plan.id).plan.id == plan.id


def test_withdrawing_the_lead_passes_the_lead_to_another_authority_with_consent(session, aarhus):
    plan = start(session, aarhus)
    svc.set_consent(session, aarhus.citizen, plan.id, AARHUS, give=False)
    assert session.get(Plan, plan.id).lead_authority_id == REGION
    whats = [c.what for c in session.scalars(select(PlanChange).where(PlanChange.plan_id == plan.id))]
    assert whats[-2:] == ["consent_withdrawn", "lead_changed"]


def test_another_citizen_gets_404(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(make_citizen(session, municipality_code="751"))
    assert client.get(f"/plans/{plan.id}").status_code == 404


# --- scoping ------------------------------------------------------------------------------


def test_caseworkers_see_the_plan_and_their_own_cases_never_another_authoritys_notes(client, login, session, aarhus):
    plan = start(session, aarhus)
    before = len(audit_rows(session, "plan.view"))
    login(aarhus.region_worker)
    html = client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert "Jeg er udskrevet" in html
    assert "REGION-SECRET-NOTE" in html
    assert "KOMMUNE-SECRET-NOTE" not in html and aarhus.municipality_case.reference not in html
    assert len(audit_rows(session, "plan.view")) == before + 1
    login(aarhus.citizen)
    html = client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert "SECRET-NOTE" not in html
    # The citizen's own views are not staff views: no audit row.
    assert len(audit_rows(session, "plan.view")) == before + 1


def plan_with_a_municipality_action(session, aarhus):
    """A started plan with a goal and an action tied to the municipality's case."""
    plan = start(session, aarhus)
    goal = svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form())
    svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id,
                   action_form(AARHUS, case_id=str(aarhus.municipality_case.id)))
    return plan


@pytest.mark.parametrize("page", ["", "/print", "/export.json"])
def test_no_page_or_export_of_a_shared_plan_shows_another_authoritys_case_notes(client, login, session, aarhus, page):
    plan = plan_with_a_municipality_action(session, aarhus)
    login(aarhus.region_worker)
    response = client.get(f"/plans/{plan.id}{page}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Jeg er udskrevet" in body  # the plan itself is there
    assert "KOMMUNE-SECRET-NOTE" not in body
    login(aarhus.citizen)
    response = client.get(f"/plans/{plan.id}{page}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Jeg er udskrevet" in body
    assert "REGION-SECRET-NOTE" not in body and "KOMMUNE-SECRET-NOTE" not in body


def test_citizen_text_is_escaped_for_caseworkers(client, login, session, aarhus):
    plan = svc.start_plan(session, aarhus.citizen, consent_to=[REGION, AARHUS], situation="<script>alert(1)</script>")
    login(aarhus.municipality_worker)
    html = client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_change_by_staff_is_audited_logged_and_claims_the_coordinator_role(session, aarhus):
    plan = start(session, aarhus)
    goal = svc.add_goal(session, aarhus.region_worker, plan.id, goal_form())
    row = audit_rows(session, "plan.goal_added")[-1]
    assert (row.actor_id, row.details["plan_id"], row.outcome) == (aarhus.region_worker.id, plan.id, AuditOutcome.ALLOW)
    participant = next(p for p in session.get(Plan, plan.id).participants if p.authority_id == REGION)
    assert participant.coordinator_id == aarhus.region_worker.id
    change = session.scalars(select(PlanChange).where(PlanChange.plan_id == plan.id).order_by(PlanChange.id.desc())).first()
    assert (change.what, change.data["goal_id"]) == ("goal_added", goal.id)


def test_goal_and_action_validation(session, aarhus):
    plan = start(session, aarhus)
    with pytest.raises(svc.PlanInvalid) as exc:
        svc.add_goal(session, aarhus.region_worker, plan.id, goal_form(title="", target_value="many", due_on="soon"))
    assert set(exc.value.errors) == {"title", "target_value", "due_on"}
    goal = svc.add_goal(session, aarhus.region_worker, plan.id, goal_form())
    with pytest.raises(svc.PlanInvalid) as exc:
        svc.add_action(session, aarhus.region_worker, plan.id, goal.id,
                       action_form("municipality-461", responsible_name=""))
    assert "responsible" in exc.value.errors
    with pytest.raises(svc.PlanInvalid) as exc:
        svc.add_action(session, aarhus.region_worker, plan.id, goal.id, action_form(AARHUS, responsible_name=""))
    assert "responsible_name" in exc.value.errors
    # Linking another authority's case (or a tampered id) is refused.
    with pytest.raises(svc.PlanInvalid) as exc:
        svc.add_action(session, aarhus.region_worker, plan.id, goal.id,
                       action_form(REGION, case_id=str(aarhus.municipality_case.id)))
    assert "case_id" in exc.value.errors
    action = svc.add_action(session, aarhus.region_worker, plan.id, goal.id,
                            action_form(REGION, case_id=str(aarhus.region_case.id)))
    assert (action.authority_id, action.case_id, action.owned_by_citizen) == (REGION, aarhus.region_case.id, False)
    mine = svc.add_action(session, aarhus.region_worker, plan.id, goal.id, action_form("citizen", responsible_name=""))
    assert mine.owned_by_citizen and mine.authority_id is None and mine.responsible_name == "Ane Aarhus"


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_nan_and_infinity_are_refused_in_targets_and_measurements(session, aarhus, bad):
    plan = start(session, aarhus)
    for field in ("baseline", "target_value"):
        with pytest.raises(svc.PlanInvalid) as exc:
            svc.add_goal(session, aarhus.region_worker, plan.id, goal_form(**{field: bad}))
        assert set(exc.value.errors) == {field}
        assert str(exc.value.errors[field]) in {"Enter an ordinary number, for example 37 or 2.5.",
                                                "Skriv et almindeligt tal, for eksempel 37 eller 2,5."}
    goal = svc.add_goal(session, aarhus.region_worker, plan.id, goal_form())
    with pytest.raises(svc.PlanInvalid) as exc:
        svc.record_measurement(session, aarhus.region_worker, plan.id, goal.id, value=bad,
                               measured_on="2026-11-20", version=1)
    assert set(exc.value.errors) == {"value"}
    assert session.get(Goal, goal.id).version == 1


def test_goal_texts_and_comments_over_their_limits_are_refused_and_the_forms_say_so(client, login, session, aarhus):
    from portal import limits

    plan = start(session, aarhus)
    for field in ("title", "measure", "agreed_by"):
        with pytest.raises(svc.PlanInvalid) as exc:
            svc.add_goal(session, aarhus.region_worker, plan.id, goal_form(**{field: "x" * 100_000}))
        assert set(exc.value.errors) == {field} and "200" in str(exc.value.errors[field])
    with pytest.raises(svc.PlanInvalid) as exc:
        svc.add_comment(session, aarhus.citizen, plan.id, "x" * 200_000)
    assert set(exc.value.errors) == {"body"}
    assert session.scalar(select(func.count()).select_from(Goal)) == 0
    svc.add_comment(session, aarhus.citizen, plan.id, "x" * limits.MESSAGE)
    login(aarhus.municipality_worker)
    form = client.get(f"/plans/{plan.id}/goals/new").get_data(as_text=True)
    assert form.count(f'maxlength="{limits.LINE}"') == 3
    page = client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert f'name="body" maxlength="{limits.MESSAGE}"' in page


def test_only_the_responsible_or_lead_authority_edits_an_action(session, aarhus):
    plan = start(session, aarhus)  # lead: Aarhus
    goal = svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form())
    action = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id, action_form(AARHUS))
    with pytest.raises(svc.PlanNotFound):
        svc.update_action(session, aarhus.region_worker, plan.id, action.id, action_form(AARHUS, title="x"), version=1)
    assert audit_rows(session, "plan.action_changed", AuditOutcome.DENY)[-1].actor_id == aarhus.region_worker.id
    assert session.get(Action, action.id).title == "Genoptræning"


# --- the citizen's part ----------------------------------------------------------------------


def test_the_citizen_marks_their_own_action_done_but_not_an_authoritys(client, login, session, aarhus):
    plan = start(session, aarhus)
    goal = svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form())
    theirs = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id, action_form(AARHUS))
    mine = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id,
                          action_form("citizen", title="Gå en tur"))
    login(aarhus.citizen)
    html = client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert html.count('id="done-action-') == 1 and f'id="done-action-{mine.id}"' in html
    token = csrf_token(client, f"/plans/{plan.id}")
    assert client.post(f"/plans/{plan.id}/actions/{theirs.id}/done",
                       data={"csrf_token": token, "version": "1"}).status_code == 404
    assert client.post(f"/plans/{plan.id}/actions/{mine.id}/done",
                       data={"csrf_token": token, "version": "1"}).status_code == 303
    assert session.get(Action, mine.id).status == ActionStatus.DONE
    assert session.get(Action, theirs.id).status == ActionStatus.PLANNED


def test_a_citizen_proposal_notifies_the_coordinators_with_consent_through_the_outbox(client, login, session, aarhus):
    plan = start(session, aarhus)
    svc.become_coordinator(session, aarhus.region_worker, plan.id)
    svc.become_coordinator(session, aarhus.municipality_worker, plan.id)
    svc.set_consent(session, aarhus.citizen, plan.id, REGION, give=False)
    login(aarhus.citizen)
    token = csrf_token(client, f"/plans/{plan.id}")
    response = client.post(f"/plans/{plan.id}/comments",
                           data={"csrf_token": token, "kind": "proposal", "body": "Kan træningen ligge om morgenen?"})
    assert response.status_code == 303
    notes = list(session.scalars(select(PlanNotification).where(PlanNotification.plan_id == plan.id)))
    assert [(n.user_id, n.kind, n.status) for n in notes] == [(aarhus.municipality_worker.id, "proposal_added", "pending")]
    job = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert job.job == "portal.plans.jobs.send_plan_notification" and job.args == {"notification_id": notes[0].id}
    empty = client.post(f"/plans/{plan.id}/comments", data={"csrf_token": token, "kind": "comment", "body": " "})
    assert empty.status_code == 400 and "Fejl:" in empty.get_data(as_text=True)


def test_the_notification_job_sends_one_email_without_personal_details(app, session, aarhus):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session_, envelope):  # noqa: N802 - aiosmtpd's name
            self.messages.append(envelope.content.decode())
            return "250 OK"

    inbox = Inbox()
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        plan = start(session, aarhus)
        svc.become_coordinator(session, aarhus.municipality_worker, plan.id)
        svc.add_comment(session, aarhus.citizen, plan.id, "Hemmelig tekst om min sygdom")
        note = session.scalar(select(PlanNotification).where(PlanNotification.plan_id == plan.id))
        kwargs = dict(smtp_host="127.0.0.1", smtp_port=port, mail_from="noreply@indgang.test", base_url="https://indgang.test")
        assert svc.send_notification(session, note.id, **kwargs) is True
        assert svc.send_notification(session, note.id, **kwargs) is False
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    assert f"https://indgang.test/plans/{plan.id}" in inbox.messages[0]
    assert "Hemmelig" not in inbox.messages[0] and "Ane" not in inbox.messages[0]


# --- concurrent edits ------------------------------------------------------------------------


def test_two_people_editing_one_action_get_a_conflict_not_a_silent_overwrite(app, client, login, session, aarhus):
    plan = start(session, aarhus)
    goal = svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form())
    action = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id, action_form(AARHUS))
    colleague = make_staff(session, AARHUS, name="Kirsten Kollega")
    other = app.test_client()
    login(aarhus.municipality_worker)
    login(colleague, for_client=other)
    path = f"/plans/{plan.id}/actions/{action.id}/edit"
    form_a = client.get(path).get_data(as_text=True)
    form_b = other.get(path).get_data(as_text=True)
    assert 'name="version" value="1"' in form_a and 'name="version" value="1"' in form_b

    first = client.post(path, data={**action_form(AARHUS, status="started"), "version": "1",
                                    "csrf_token": csrf_token(client, path)})
    assert first.status_code == 303
    second = other.post(path, data={**action_form(AARHUS, title="Genoptræning hjemme"), "version": "1",
                                    "csrf_token": csrf_token(other, path)})
    assert second.status_code == 409
    html = second.get_data(as_text=True)
    assert "Fejl:" in html and "Nogen andre har ændret denne handling" in html
    assert 'name="version" value="2"' in html  # the form now carries the saved version
    saved = session.get(Action, action.id)
    session.refresh(saved)
    assert (saved.title, saved.status, saved.version) == ("Genoptræning", ActionStatus.STARTED, 2)


@pytest.fixture
def served(live_database_url, redis_url, tmp_path):
    """An app on a database of its own, whose sessions commit for real (for tests of
    two sessions at once), and its sessionmaker."""
    from portal import create_app, redis_conn
    from tests.conftest import make_config

    app = create_app(make_config(live_database_url, redis_url, tmp_path))
    yield app, app.extensions["db"].sessionmaker
    redis_conn.close(app)
    app.extensions["db"].engine.dispose()


def aarhus_committed(session) -> Aarhus:
    """The Aarhus citizen with cases at the region and the municipality, committed."""
    a = Aarhus(make_citizen(session, municipality_code="751", name="Ane"), make_staff(session, REGION),
               make_staff(session, AARHUS), None, None)
    request = make_request(session, a.citizen)
    make_case(session, request, REGION, assignment_index=0)
    make_case(session, request, AARHUS, assignment_index=1)
    session.commit()
    return a


def test_a_stale_write_is_caught_by_the_version_column(served):
    """Two real sessions: the second save, on top of a version it did not see,
    raises PlanConflict carrying the action as saved."""
    app, maker = served
    with app.app_context(), maker() as setup:
        a = aarhus_committed(setup)
        plan = start(setup, a)
        goal = svc.add_goal(setup, a.municipality_worker, plan.id, goal_form())
        action_id = svc.add_action(setup, a.municipality_worker, plan.id, goal.id, action_form(AARHUS)).id
        worker_id, plan_id = a.municipality_worker.id, plan.id
    with app.app_context(), maker() as first, maker() as second:
        # Both load the action (version 1), as two open edit forms would.
        first_user = first.get(User, worker_id)
        assert first.get(Action, action_id).version == 1
        first.commit()
        second_user = second.get(User, worker_id)
        svc.update_action(second, second_user, plan_id, action_id, action_form(AARHUS, status="done"), version=1)
        with pytest.raises(svc.PlanConflict) as exc:
            svc.update_action(first, first_user, plan_id, action_id, action_form(AARHUS, title="Overwrite"), version=1)
        assert (exc.value.current.version, exc.value.current.status) == (2, ActionStatus.DONE)
    with maker() as check:
        assert check.get(Action, action_id).title == "Genoptræning"


# --- live updates ------------------------------------------------------------------------------

# What the plan page's polling element sends.
LIVE_POLL = {"HX-Request": "true", "HX-Target": "plan-live", "HX-Trigger": "plan-live",
             "X-Indgang-Poll": "plan-live"}


def test_the_live_part_answers_204_until_something_changes(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(aarhus.region_worker)
    page = client.get(f"/plans/{plan.id}").get_data(as_text=True)
    since = int(re.search(r'data-last-change="(\d+)"', page).group(1))
    audits = len(audit_rows(session, "plan.view"))
    quiet = client.get(f"/plans/{plan.id}/live?since={since}", headers=LIVE_POLL)
    assert quiet.status_code == 204 and "HX-Request" in quiet.headers["Vary"]
    assert len(audit_rows(session, "plan.view")) == audits  # nothing shown, nothing audited
    svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form(title="Klare trapperne"))
    fresh = client.get(f"/plans/{plan.id}/live?since={since}", headers=LIVE_POLL)
    html = fresh.get_data(as_text=True)
    assert fresh.status_code == 200 and "HX-Request" in fresh.headers["Vary"]
    assert "Klare trapperne" in html and "<html" not in html
    assert 'data-announce="plan-live" data-announce-always>' in html  # read out: "the plan has been updated"
    assert len(audit_rows(session, "plan.view")) == audits + 1
    plain = client.get(f"/plans/{plan.id}/live?since={since}")
    assert plain.status_code == 303 and "HX-Request" in plain.headers["Vary"]
    restore = client.get(f"/plans/{plan.id}/live?since={since}", headers={"HX-Request": "true"})
    assert restore.status_code == 303  # htmx, but not the poll: the page, not the part


# --- templates, reviews, reminders, progress, export ----------------------------------------------


def test_a_template_prefills_goals_and_actions_with_due_dates_from_today(session, aarhus):
    plan = start(session, aarhus, template_slug="hospital-discharge", locale="da")
    goals = session.get(Plan, plan.id).goals
    assert [g.title for g in goals] == ["Klare mig selv derhjemme", "Gå en tur på 1 km"]
    assert goals[0].due_on == TODAY + timedelta(days=90) and goals[0].target_value == 9
    by_title = {a.title: a for g in goals for a in g.actions}
    assert by_title["Start på genoptræning"].due_on == TODAY + timedelta(days=7)
    assert by_title["Start på genoptræning"].authority_id == AARHUS
    assert by_title["Genoptræningsplan ved udskrivelsen"].authority_id == REGION
    walk = by_title["Gå en kort tur hver dag"]
    assert walk.owned_by_citizen and walk.responsible_name == "Ane Aarhus"
    assert all(a.responsible_name for a in by_title.values())
    # No coordinator named at the region yet: the role stands in for the name.
    assert by_title["Genoptræningsplan ved udskrivelsen"].responsible_name == "Koordinator (udpeges)"
    english = svc.apply_template(session, aarhus.region_worker, plan.id, "return-to-work", locale="en", today=TODAY)
    assert "Work 37 hours a week again" in [g.title for g in english.goals]
    with pytest.raises(svc.PlanInvalid):
        svc.apply_template(session, aarhus.region_worker, plan.id, "no-such-template")


def test_templates_file_is_complete_in_both_languages():
    for t in svc.load_templates():
        for text in [t["name"], t["description"]] + [g["title"] for g in t["goals"]] + [
            a["title"] for g in t["goals"] for a in g["actions"]
        ]:
            assert text["da"] and text["en"]
        for g in t["goals"]:
            assert g["target_value"] is not None and g["due_in_days"] > 0
            assert all(a["responsible"] in ("municipality", "region", "state", "citizen") for a in g["actions"])


def test_only_the_lead_sets_the_review_date_within_six_months(session, aarhus):
    plan = start(session, aarhus)
    with pytest.raises(svc.PlanNotFound):
        svc.set_review(session, aarhus.region_worker, plan.id, date(2027, 1, 1), today=TODAY)
    with pytest.raises(svc.PlanInvalid):
        svc.set_review(session, aarhus.municipality_worker, plan.id, date(2027, 6, 1), today=TODAY)
    svc.set_review(session, aarhus.municipality_worker, plan.id, date(2027, 1, 15), today=TODAY)
    assert session.get(Plan, plan.id).review_on == date(2027, 1, 15)


def test_review_reminders_are_queued_once_per_review_date(session, aarhus):
    plan = start(session, aarhus)
    svc.become_coordinator(session, aarhus.municipality_worker, plan.id)
    assert svc.queue_review_reminders(session, today=TODAY) == 0  # review is six months away
    due_soon = plan.review_on - timedelta(days=10)
    assert svc.queue_review_reminders(session, today=due_soon) == 2
    assert svc.queue_review_reminders(session, today=due_soon) == 0
    notes = session.scalars(select(PlanNotification).where(PlanNotification.kind == "review_due")).all()
    assert {n.user_id for n in notes} == {aarhus.citizen.id, aarhus.municipality_worker.id}
    svc.set_review(session, aarhus.municipality_worker, plan.id, None, reviewed=True, today=due_soon)
    assert svc.queue_review_reminders(session, today=due_soon) == 0
    assert svc.queue_review_reminders(session, today=svc.default_review_date(due_soon) - timedelta(days=1)) == 2


def test_the_reminder_job_is_declared_and_runs_in_an_app_context(app, session, aarhus):
    from portal.plans import jobs

    assert jobs.queue_review_reminders.job_spec.name == "portal.plans.jobs.queue_review_reminders"
    plan = start(session, aarhus)
    with app.app_context():
        assert jobs.queue_review_reminders(today=(plan.review_on - timedelta(days=1)).isoformat()) == 1


def test_progress_counts_towards_the_target_in_either_direction():
    assert progress_percent(0, 37, 18.5) == 50
    assert progress_percent(7, 3, 5) == 50  # pain going down
    assert progress_percent(7, 3, 9) == 0 and progress_percent(0, 10, 12) == 100
    chart = progress_chart(date(2026, 1, 1), date(2026, 7, 1), 0, 10,
                           [{"on": "2026-03-01", "value": 4}, {"on": "2026-02-01", "value": 2}])
    assert [p.value for p in chart.points] == [0, 2, 4]
    assert chart.points[0].x < chart.points[1].x < chart.points[2].x < chart.due_x
    assert chart.points[0].y > chart.points[2].y > chart.target_y  # higher values drawn higher


def test_measurements_show_as_a_chart_with_a_table_and_overdue_actions_are_flagged(client, login, session, aarhus):
    plan = start(session, aarhus)
    goal = svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form())
    svc.record_measurement(session, aarhus.municipality_worker, plan.id, goal.id, value="550",
                           measured_on=date.today().isoformat(), version=1)
    svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id,
                   action_form(AARHUS, due_on=(date.today() - timedelta(days=1)).isoformat()))
    login(aarhus.citizen)
    html = client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert '<svg role="img"' in html and "<polyline" in html and "50%" in html
    assert "<td>550</td>" in html
    assert '<strong class="tag overdue">' in html and "1 handling er over sin frist." in html
    with pytest.raises(svc.PlanConflict):
        svc.record_measurement(session, aarhus.municipality_worker, plan.id, goal.id, value="600",
                               measured_on=date.today().isoformat(), version=1)


def test_export_and_print_hold_the_whole_plan_and_staff_exports_are_audited(client, login, session, aarhus):
    plan = plan_with_a_municipality_action(session, aarhus)
    login(aarhus.region_worker)
    response = client.get(f"/plans/{plan.id}/export.json")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    data = response.get_json()
    assert data["goals"][0]["actions"][0]["responsible"]["authority_id"] == AARHUS
    assert data["goals"][0]["actions"][0]["case_reference"] == aarhus.municipality_case.reference
    assert "internal_note" not in response.get_data(as_text=True)
    assert audit_rows(session, "plan.export")[-1].actor_id == aarhus.region_worker.id
    printed = client.get(f"/plans/{plan.id}/print").get_data(as_text=True)
    assert "Gå 1 km" in printed and "css/plans.css" in printed and "Rediger" not in printed


def test_the_citizens_own_words_refuse_a_stale_form(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(aarhus.citizen)
    path = f"/plans/{plan.id}/own-words"
    token = csrf_token(client, path)
    version = session.get(Plan, plan.id).version
    assert client.post(path, data={"csrf_token": token, "version": str(version), "situation": "Bedre nu",
                                   "wishes": "Cykle"}).status_code == 303
    stale = client.post(path, data={"csrf_token": token, "version": str(version), "situation": "Gammel tekst",
                                    "wishes": ""})
    assert stale.status_code == 409 and "Planen blev ændret, mens du skrev" in stale.get_data(as_text=True)
    session.expire_all()
    assert session.get(Plan, plan.id).situation == "Bedre nu"
    with pytest.raises(svc.PlanNotFound):
        svc.update_own_words(session, aarhus.municipality_worker, plan.id, situation="x", wishes="y", version=version)


def test_a_proposal_about_one_action_goes_to_those_it_concerns(session, aarhus):
    plan = start(session, aarhus)  # lead: Aarhus
    svc.become_coordinator(session, aarhus.region_worker, plan.id)
    svc.become_coordinator(session, aarhus.municipality_worker, plan.id)
    goal = svc.add_goal(session, aarhus.region_worker, plan.id, goal_form())
    region_action = svc.add_action(session, aarhus.region_worker, plan.id, goal.id, action_form(REGION))
    before = {n.id for n in session.scalars(select(PlanNotification))}
    svc.add_comment(session, aarhus.citizen, plan.id, "Kan det rykkes?", "proposal", region_action.id)
    new = [n for n in session.scalars(select(PlanNotification)) if n.id not in before]
    # The responsible authority's coordinator and the lead's coordinator.
    assert sorted(n.user_id for n in new) == sorted([aarhus.region_worker.id, aarhus.municipality_worker.id])
    other_plan_action = 10**9
    with pytest.raises(svc.PlanNotFound):
        svc.add_comment(session, aarhus.citizen, plan.id, "x", "comment", other_plan_action)


def test_the_remind_command_queues_reminders(runner, session, aarhus):
    plan = start(session, aarhus)
    day = (plan.review_on - timedelta(days=3)).isoformat()
    result = runner.invoke(args=["plans", "remind", "--today", day])
    assert result.exit_code == 0, result.output
    assert "1 review reminder(s) queued" in result.output  # the citizen; no lead coordinator named yet
    again = runner.invoke(args=["plans", "remind", "--today", day])
    assert "0 review reminder(s) queued" in again.output


def test_a_notification_travels_through_the_outbox_relay_and_an_rq_worker(app, session, aarhus):
    import socket

    from aiosmtpd.controller import Controller
    from rq import SimpleWorker

    from portal.redis_conn import get_redis
    from portal.services.outbox import relay

    received = []

    class Inbox:
        async def handle_DATA(self, server, session_, envelope):  # noqa: N802 - aiosmtpd's name
            received.append(envelope.rcpt_tos)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        plan = start(session, aarhus)
        svc.become_coordinator(session, aarhus.municipality_worker, plan.id)
        svc.add_comment(session, aarhus.citizen, plan.id, "Tak for i dag")
        redis = get_redis(app)
        assert relay(session, redis) == 1
        SimpleWorker(["default"], connection=redis).work(burst=True)
    finally:
        controller.stop()
    assert received == [[aarhus.municipality_worker.email]]
    session.expire_all()
    note = session.scalar(select(PlanNotification).where(PlanNotification.plan_id == plan.id))
    assert note.status == "sent" and note.sent_at is not None


def test_a_named_responsible_on_the_staff_is_linked_and_told_about_changes(session, aarhus):
    plan = start(session, aarhus)
    svc.become_coordinator(session, aarhus.municipality_worker, plan.id)
    goal = svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form())
    action = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id,
                            action_form(REGION, responsible_name="rita region"))
    assert action.responsible_user_id == aarhus.region_worker.id
    notified = {n.user_id for n in session.scalars(select(PlanNotification).where(PlanNotification.plan_id == plan.id))}
    assert aarhus.region_worker.id in notified
    unknown = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id,
                             action_form(REGION, responsible_name="Ukendt Person"))
    assert unknown.responsible_user_id is None and unknown.responsible_name == "Ukendt Person"


def deny_count(session) -> int:
    session.expire_all()
    return len(session.scalars(select(AuditEntry.id).where(AuditEntry.outcome == AuditOutcome.DENY)).all())


def _plan_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint.startswith("plans.") and "plan_id" in r.arguments),
                  key=lambda r: r.rule)


@pytest.mark.parametrize("who", ["withdrawn_region", "other_authority", "other_citizen"])
def test_every_plan_route_answers_404_like_a_missing_plan_with_a_deny_row(app, client, login, session, aarhus, who):
    """Walk every route of the plans blueprint that takes a plan id, GET (page and
    htmx) and POST with a valid CSRF token: the refused user gets exactly what a
    missing plan gives, and each refusal is audited."""
    plan = start(session, aarhus)
    goal = svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form())
    action = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id, action_form(AARHUS))
    svc.set_consent(session, aarhus.citizen, plan.id, REGION, give=False)
    user = {"withdrawn_region": aarhus.region_worker,
            "other_authority": make_staff(session, "municipality-461"),
            "other_citizen": make_citizen(session, municipality_code="751")}[who]
    login(user)
    token = csrf_token(client, "/")
    volatile = re.compile(r'name="csrf_token" value="[^"]*"|"X-CSRFToken": "[^"]*"|[0-9a-f]{16,64}')
    missing_plan = 10**9
    rules = _plan_rules(app)
    assert len(rules) >= 15
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for headers in ({}, {"HX-Request": "true"}):
                answers = []
                for plan_id in (plan.id, missing_plan):
                    values = {"plan_id": plan_id, "goal_id": goal.id, "action_id": action.id}
                    path = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
                    before = deny_count(session)
                    data = {"csrf_token": token, "version": "1", "authority": AARHUS, "give": "1",
                            "body": "x", "title": "x"} if method == "POST" else None
                    response = client.open(path, method=method, data=data, headers=headers)
                    assert response.status_code == 404, (method, path, headers, response.status_code)
                    assert deny_count(session) == before + 1, f"not one deny row for {method} {path}"
                    answers.append(volatile.sub("", response.get_data(as_text=True).replace(path, "<path>")))
                assert answers[0] == answers[1], (method, rule.rule)
    # Nothing changed on the plan.
    session.expire_all()
    assert session.get(Action, action.id).version == 1


def test_a_caseworker_starts_a_plan_on_behalf_through_the_pages(client, login, session, aarhus):
    login(aarhus.municipality_worker)
    index = client.get("/plans").get_data(as_text=True)
    assert "Ane Aarhus" in index  # offered: a citizen with a case here
    path = f"/plans/new?citizen_id={aarhus.citizen.id}"
    token = csrf_token(client, path)
    missing = client.post(path, data={"csrf_token": token, "lead_authority": AARHUS})
    assert missing.status_code == 400 and 'href="#consent_confirmed"' in missing.get_data(as_text=True)
    done = client.post(path, data={"csrf_token": token, "lead_authority": AARHUS, "consent_confirmed": "1",
                                   "situation": "Fortalt på mødet", "template": "return-to-work"})
    assert done.status_code == 303
    plan = svc.active_plan_of(session, aarhus.citizen.id)
    assert done.headers["Location"].endswith(f"/plans/{plan.id}")
    assert len(plan.goals) == 2
    assert "Plan for Ane Aarhus" in client.get("/plans").get_data(as_text=True)
    # A citizen with no case at this authority is not offered, and cannot be forced.
    stranger = make_citizen(session, municipality_code="461")
    make_case(session, make_request(session, stranger), "municipality-461")
    assert client.get(f"/plans/new?citizen_id={stranger.id}").status_code == 404


def test_a_caseworker_looking_at_the_start_form_shows_in_the_citizens_access_log(client, login, session, aarhus):
    # The form names the citizen and every authority they have a case at.
    login(aarhus.municipality_worker)
    form = client.get(f"/plans/new?citizen_id={aarhus.citizen.id}")
    assert form.status_code == 200 and "Ane Aarhus" in form.get_data(as_text=True)
    [row] = audit_rows(session, "plan.start_form")
    assert (row.outcome, row.subject_id, row.actor_id) == (
        AuditOutcome.ALLOW, aarhus.citizen.id, aarhus.municipality_worker.id)
    stranger = make_citizen(session, municipality_code="461")
    make_case(session, make_request(session, stranger), "municipality-461")
    session.commit()
    assert client.get(f"/plans/new?citizen_id={stranger.id}").status_code == 404
    denied = audit_rows(session, "plan.start_form", AuditOutcome.DENY)
    assert [r.subject_id for r in denied] == [stranger.id]
    login(aarhus.citizen)
    log = client.get("/mine/privacy/").get_data(as_text=True)
    assert "Så, hvilke myndigheder der behandler dine sager, for at starte en plan" in log


def test_plan_changes_need_a_csrf_token(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(aarhus.citizen)
    response = client.post(f"/plans/{plan.id}/consent", data={"authority": REGION, "give": "0"})
    assert response.status_code == 400
    assert all(p.has_consent for p in session.get(Plan, plan.id).participants)


def test_a_goal_is_changed_with_its_version_and_logged(client, login, session, aarhus):
    plan = start(session, aarhus)
    goal = svc.add_goal(session, aarhus.region_worker, plan.id, goal_form())
    login(aarhus.municipality_worker)
    path = f"/plans/{plan.id}/goals/{goal.id}/edit"
    page = client.get(path).get_data(as_text=True)
    assert 'value="Gå 1 km"' in page and 'name="version" value="1"' in page
    token = csrf_token(client, path)
    saved = client.post(path, data={**goal_form(target_value="1200,5"), "version": "1", "csrf_token": token})
    assert saved.status_code == 303
    stale = client.post(path, data={**goal_form(title="Gammel"), "version": "1", "csrf_token": token})
    assert stale.status_code == 409 and "Nogen andre har ændret dette mål" in stale.get_data(as_text=True)
    session.expire_all()
    goal = session.get(type(goal), goal.id)
    assert (goal.title, goal.target_value, goal.version) == ("Gå 1 km", 1200.5, 2)
    change = session.scalars(select(PlanChange).where(PlanChange.what == "goal_changed")).one()
    assert change.data["changed"] == {"target_value": [1000.0, 1200.5]}
    assert audit_rows(session, "plan.goal_changed")[-1].actor_id == aarhus.municipality_worker.id
    login(aarhus.citizen)
    assert client.get(path).status_code == 404


def test_a_review_date_in_error_keeps_what_was_ticked(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(aarhus.municipality_worker)
    path = f"/plans/{plan.id}/review"
    token = csrf_token(client, path)
    refused = client.post(path, data={"csrf_token": token, "review_on": "2040-01-01", "reviewed": "1"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "error-summary" in page
    assert 'id="reviewed" name="reviewed" value="1" checked' in page
    assert session.get(Plan, plan.id).review_on != date(2040, 1, 1)


def test_the_lead_hands_over_the_lead_and_with_it_the_reviews(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(aarhus.region_worker)
    assert client.get(f"/plans/{plan.id}/review").status_code == 404  # not the lead
    login(aarhus.municipality_worker)
    path = f"/plans/{plan.id}/review"
    token = csrf_token(client, path)
    refused = client.post(f"/plans/{plan.id}/lead", data={"csrf_token": token, "lead_authority": "municipality-461"})
    assert refused.status_code == 400 and "error-summary" in refused.get_data(as_text=True)
    moved = client.post(f"/plans/{plan.id}/lead", data={"csrf_token": token, "lead_authority": REGION})
    assert moved.status_code == 303
    session.expire_all()
    assert session.get(Plan, plan.id).lead_authority_id == REGION
    assert client.get(path).status_code == 404
    login(aarhus.region_worker)
    assert client.get(path).status_code == 200


# --- ending a plan ---------------------------------------------------------------------------


def plan_changes(session, plan_id: int) -> list[str]:
    return [c.what for c in session.scalars(select(PlanChange).where(PlanChange.plan_id == plan_id).order_by(PlanChange.id))]


def test_the_lead_authority_ends_the_plan_and_the_citizen_and_coordinators_are_told(session, aarhus):
    plan = start(session, aarhus)
    svc.become_coordinator(session, aarhus.region_worker, plan.id)
    svc.become_coordinator(session, aarhus.municipality_worker, plan.id)  # the lead (Aarhus)
    closed = svc.close_plan(session, aarhus.municipality_worker, plan.id, "goals_met", "  ", version=plan.version)
    assert (closed.status, closed.closed_by_id, closed.closed_reason, closed.closed_note) == (
        "closed", aarhus.municipality_worker.id, "goals_met", None)
    assert closed.closed_at is not None
    assert plan_changes(session, plan.id)[-1] == "plan_closed"
    told = {(n.user_id, n.kind) for n in session.scalars(select(PlanNotification).where(PlanNotification.plan_id == plan.id))}
    assert told == {(aarhus.citizen.id, "plan_closed"), (aarhus.region_worker.id, "plan_closed")}  # not the actor
    [row] = audit_rows(session, "plan.close", AuditOutcome.ALLOW)
    assert (row.actor_id, row.subject_id) == (aarhus.municipality_worker.id, aarhus.citizen.id)
    # No plan is active any more: the citizen may start a new one.
    assert svc.active_plan_of(session, aarhus.citizen.id) is None
    assert start(session, aarhus).id != plan.id


def test_the_citizen_may_end_their_plan_another_authority_may_not(session, aarhus):
    plan = start(session, aarhus)
    with pytest.raises(svc.PlanNotFound):
        svc.close_plan(session, aarhus.region_worker, plan.id, "goals_met", "", version=plan.version)
    assert audit_rows(session, "plan.close", AuditOutcome.DENY)[-1].actor_id == aarhus.region_worker.id
    assert session.get(Plan, plan.id).status == "active"
    svc.close_plan(session, aarhus.citizen, plan.id, "other", "Jeg flytter til Norge", version=plan.version)
    session.expire_all()
    plan = session.get(Plan, plan.id)
    assert (plan.status, plan.closed_reason, plan.closed_note) == ("closed", "other", "Jeg flytter til Norge")


@pytest.mark.parametrize(("reason", "note", "field"), [
    ("", "", "reason"), ("because", "", "reason"), ("other", "   ", "note"), ("goals_met", "x" * 2001, "note"),
])
def test_ending_needs_a_known_reason_and_other_needs_a_note_else_nothing_changes(session, aarhus, reason, note, field):
    plan = start(session, aarhus)
    before = plan_changes(session, plan.id)
    with pytest.raises(svc.PlanInvalid) as exc:
        svc.close_plan(session, aarhus.citizen, plan.id, reason, note, version=plan.version)
    assert list(exc.value.errors) == [field]
    session.rollback()
    assert session.get(Plan, plan.id).status == "active" and plan_changes(session, plan.id) == before


def test_ending_from_a_stale_page_is_a_conflict(session, aarhus):
    plan = start(session, aarhus)
    version = plan.version
    svc.update_own_words(session, aarhus.citizen, plan.id, situation="Nyt", wishes="", version=version)
    with pytest.raises(svc.PlanConflict):
        svc.close_plan(session, aarhus.citizen, plan.id, "goals_met", "", version=version)
    session.rollback()
    assert session.get(Plan, plan.id).status == "active"


def test_a_closed_plan_can_be_read_and_exported_but_not_changed(session, aarhus):
    plan = start(session, aarhus)
    svc.become_coordinator(session, aarhus.municipality_worker, plan.id)
    goal = svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form())
    action = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id, action_form(AARHUS, due_on="2026-01-05"))
    citizens_action = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id, action_form("citizen"))
    svc.close_plan(session, aarhus.citizen, plan.id, "goals_met", "", version=session.get(Plan, plan.id).version)
    before = plan_changes(session, plan.id)
    worker, citizen = aarhus.municipality_worker, aarhus.citizen
    changes = [
        lambda: svc.add_goal(session, worker, plan.id, goal_form()),
        lambda: svc.update_goal(session, worker, plan.id, goal.id, goal_form(title="Nyt"), version=goal.version),
        lambda: svc.record_measurement(session, worker, plan.id, goal.id, value="200", measured_on="2026-11-20",
                                       version=goal.version),
        lambda: svc.add_action(session, worker, plan.id, goal.id, action_form(AARHUS)),
        lambda: svc.update_action(session, worker, plan.id, action.id, action_form(AARHUS), version=action.version),
        lambda: svc.mark_action_done(session, citizen, plan.id, citizens_action.id, version=citizens_action.version),
        lambda: svc.add_comment(session, citizen, plan.id, "Hej"),
        lambda: svc.update_own_words(session, citizen, plan.id, situation="x", wishes="y", version=99),
        lambda: svc.set_review(session, worker, plan.id, TODAY + timedelta(days=30), today=TODAY),
        lambda: svc.hand_over_lead(session, worker, plan.id, REGION),
        lambda: svc.become_coordinator(session, aarhus.region_worker, plan.id),
        lambda: svc.apply_template(session, worker, plan.id, "return-to-work", today=TODAY),
        lambda: svc.close_plan(session, citizen, plan.id, "goals_met", "", version=99),
    ]
    for change in changes:
        with pytest.raises(svc.PlanClosed):
            change()
        session.rollback()
    assert plan_changes(session, plan.id) == before
    # Reading still works, without overdue warnings for a plan that has ended.
    view = svc.view_plan(session, worker, plan.id, today=TODAY)
    assert not view.access.is_open and view.overdue == set()
    exported = svc.export_plan(session, citizen, plan.id)
    assert (exported["status"], exported["closed_reason"]) == ("closed", "goals_met")
    assert exported["closed_at"] is not None
    # The citizen may still withdraw consent, so an authority no longer sees it.
    svc.set_consent(session, citizen, plan.id, REGION, give=False)
    with pytest.raises(svc.PlanNotFound):
        svc.view_plan(session, aarhus.region_worker, plan.id)
    # No reminders for a plan that has ended.
    assert svc.queue_review_reminders(session, today=session.get(Plan, plan.id).review_on) == 0


def test_ending_a_plan_through_its_pages(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(aarhus.citizen)
    page = client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert f'href="/plans/{plan.id}/close"' in page
    token = csrf_token(client, f"/plans/{plan.id}/close")
    missing = client.post(f"/plans/{plan.id}/close", data={"csrf_token": token, "version": str(plan.version)})
    html = missing.get_data(as_text=True)
    assert missing.status_code == 400 and "<title>Fejl:" in html
    assert 'href="#reason-goals_met"' in html and "Vælg, hvorfor planen afsluttes." in html
    assert session.get(Plan, plan.id).status == "active"
    done = client.post(f"/plans/{plan.id}/close", data={"csrf_token": token, "version": str(plan.version),
                                                         "reason": "citizen_wish", "note": "Tak for hjælpen"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/plans/{plan.id}")
    page = client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert "Planen er afsluttet" in page and "Jeg ønsker ikke længere planen" in page and "Tak for hjælpen" in page
    assert "Skriv til myndighederne" not in page and f"/plans/{plan.id}/own-words" not in page
    assert f'href="/plans/{plan.id}/close"' not in page
    # A form kept open from before: sent to the plan with a clear message, nothing changes.
    before = plan_changes(session, plan.id)
    late = client.post(f"/plans/{plan.id}/comments", data={"csrf_token": token, "kind": "comment", "body": "Hej"})
    assert late.status_code == 303 and late.headers["Location"].endswith(f"/plans/{plan.id}")
    assert "den kan ikke længere ændres" in client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert plan_changes(session, plan.id) == before
    # The plan list says it has ended, and offers a new plan.
    index = client.get("/plans").get_data(as_text=True)
    assert "Afsluttet" in index and 'href="/plans/new"' in index


def test_only_the_lead_authority_is_offered_ending_and_others_get_404(client, login, session, aarhus):
    plan = start(session, aarhus)
    login(aarhus.region_worker)
    assert f'/plans/{plan.id}/close"' not in client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert client.get(f"/plans/{plan.id}/close").status_code == 404
    login(aarhus.municipality_worker)
    assert f'href="/plans/{plan.id}/close"' in client.get(f"/plans/{plan.id}").get_data(as_text=True)
    assert client.get(f"/plans/{plan.id}/close").status_code == 200


def test_every_change_route_of_a_closed_plan_leads_back_to_the_plan_and_changes_nothing(app, client, login, session, aarhus):
    """Walk every plans route with a plan id as the lead's caseworker and as the
    citizen: reading still answers 200, every change (page or POST) is sent back to
    the plan page, and the plan's log does not grow."""
    plan = start(session, aarhus)
    goal = svc.add_goal(session, aarhus.municipality_worker, plan.id, goal_form())
    action = svc.add_action(session, aarhus.municipality_worker, plan.id, goal.id, action_form(AARHUS))
    svc.close_plan(session, aarhus.municipality_worker, plan.id, "goals_met", "", version=session.get(Plan, plan.id).version)
    before = plan_changes(session, plan.id)
    reading = {"plans.show", "plans.live", "plans.print_view", "plans.export", "plans.consent"}
    for user in (aarhus.municipality_worker, aarhus.citizen):
        login(user)
        token = csrf_token(client, f"/plans/{plan.id}")
        for rule in _plan_rules(app):
            path = rule.build({k: v for k, v in {"plan_id": plan.id, "goal_id": goal.id, "action_id": action.id}.items()
                               if k in rule.arguments})[1]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if rule.endpoint in reading:
                    continue
                data = {"csrf_token": token, "version": "1", "body": "x", "title": "x", "reason": "goals_met"}
                response = client.open(path, method=method, data=data if method == "POST" else None)
                assert response.status_code == 303, (user.name, method, path, response.status_code)
                assert response.headers["Location"].endswith(f"/plans/{plan.id}"), (method, path)
        assert client.get(f"/plans/{plan.id}").status_code == 200
        assert client.get(f"/plans/{plan.id}/print").status_code == 200
    assert plan_changes(session, plan.id) == before


# --- retention ----------------------------------------------------------------------------


def test_retention_erases_the_texts_of_plans_ended_long_ago_and_keeps_their_structure(session, aarhus):
    from portal.models import Goal, PlanComment

    worker, citizen = aarhus.municipality_worker, aarhus.citizen
    old = start(session, aarhus)
    goal = svc.add_goal(session, worker, old.id, goal_form())
    svc.update_goal(session, worker, old.id, goal.id, goal_form(title="Gå 2 km med Ane"), version=goal.version)
    action = svc.add_action(session, worker, old.id, goal.id, action_form(AARHUS))
    svc.add_comment(session, citizen, old.id, "Min søster hjælper mig")
    svc.close_plan(session, citizen, old.id, "other", "Jeg flytter til Norge", version=session.get(Plan, old.id).version)
    session.get(Plan, old.id).closed_at -= timedelta(days=6 * 365)
    session.commit()
    recent = start(session, aarhus)
    svc.close_plan(session, citizen, recent.id, "goals_met", "", version=recent.version)
    active = start(session, aarhus)

    assert svc.anonymise_ended_plans(session, 5 * 365) == 1
    session.expire_all()
    old = session.get(Plan, old.id)
    assert (old.situation, old.wishes, old.closed_note) == ("", "", None)
    assert (old.status, old.closed_reason, old.closed_at is not None) == ("closed", "other", True)
    goal, action = session.get(Goal, goal.id), session.get(Action, action.id)
    assert (goal.title, goal.measure, goal.agreed_by, goal.due_on) == ("", "", "", date(2027, 3, 1))
    assert (action.title, action.responsible_name, action.authority_id) == ("", "", AARHUS)
    assert session.scalars(select(PlanComment.body).where(PlanComment.plan_id == old.id)).all() == [""]
    logged = {c.what: c.data for c in session.scalars(select(PlanChange).where(PlanChange.plan_id == old.id))}
    assert logged["goal_changed"]["title"] == "" and logged["goal_changed"]["changed"]["title"] == ["", ""]
    assert logged["action_added"]["title"] == "" and logged["action_added"]["due_on"] == "2026-12-02"
    for untouched in (recent, active):
        assert session.get(Plan, untouched.id).situation == "Jeg er udskrevet"

    assert svc.anonymise_ended_plans(session, 5 * 365) == 0
    [row] = audit_rows(session, "retention.plan_anonymised")
    assert (row.subject_id, row.details["plan_id"]) == (citizen.id, old.id)


def test_a_change_in_flight_when_the_plan_ends_is_refused_not_added(served):
    """The lead ends the plan and holds its commit while a caseworker adds a goal.
    The goal must be refused (the plan has ended), not added to an ended plan: the
    change waits for the plan row, then sees it closed."""
    import threading

    from sqlalchemy import event

    app, maker = served
    with app.app_context(), maker() as setup:
        a = aarhus_committed(setup)
        plan = start(setup, a)
        plan_id, version = plan.id, plan.version
        lead_id, other_id = a.municipality_worker.id, a.region_worker.id
    read = threading.Event()
    outcome = {}

    def end_plan() -> None:
        with app.app_context(), maker() as session:
            event.listen(session, "before_commit", lambda _s: read.wait(1))
            svc.close_plan(session, session.get(User, lead_id), plan_id, "goals_met", "", version=version)

    def add_goal() -> None:
        with app.app_context(), maker() as session:
            event.listen(session.connection(), "after_cursor_execute",
                         lambda *args: read.set() if "FROM plans" in args[2] else None)
            try:
                svc.add_goal(session, session.get(User, other_id), plan_id, goal_form())
                outcome["goal"] = "added"
            except svc.PlanClosed:
                outcome["goal"] = "refused"

    ending = threading.Thread(target=end_plan)
    ending.start()
    time.sleep(0.3)
    adding = threading.Thread(target=add_goal)
    adding.start()
    for thread in (ending, adding):
        thread.join(60)
    assert outcome == {"goal": "refused"}
    with maker() as check:
        assert check.get(Plan, plan_id).status == "closed"
        assert check.scalars(select(Goal).where(Goal.plan_id == plan_id)).all() == []
