"""The GDPR Art. 15 export is complete: every table that holds a citizen's data is in
it, or is left out on purpose and says why."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, timedelta

from sqlalchemy import func, select

import portal.models  # noqa: F401  (every model registers its table on Base.metadata)
from portal.models import (
    Action,
    Attachment,
    AuditEntry,
    Base,
    CoordinationOffer,
    DecisionCheck,
    Goal,
    Handover,
    Message,
    Notification,
    Plan,
    PlanChange,
    PlanComment,
    PlanNotification,
    PlanParticipant,
    RequestStatus,
    SurveyInvitation,
)
from portal.models.base import utcnow
from portal.services import cases, privacy
from tests.factories import make_citizen, make_request, make_staff

# Tables that reference a user (or a citizen's request, case or plan) and are not in
# the export, each for a reason. Propagation stops here: a table referencing only
# these holds no citizen data either. (Login sessions live in Redis, not in a table;
# API tokens and webhook rows hang off api_clients.)
LEFT_OUT = {
    # Shown separately: the rows about the citizen are the access log ("access_log" in
    # the export and /mine/privacy/); the rest is the security record of staff actions.
    "audit_log",
    # An authority's machine client; its user is a service user, never a citizen.
    "api_clients",
    # Targets and routing rule sets: the only user is the staff member who wrote them.
    "targets",
    "rule_sets",
}


def citizen_tables() -> set[str]:
    """Tables reached from users by foreign keys, stopping at the LEFT_OUT tables."""
    tables = Base.metadata.tables
    found = {"users"}
    grown = True
    while grown:
        grown = False
        for name, table in tables.items():
            if name in found or name in LEFT_OUT:
                continue
            if any(fk.column.table.name in found for fk in table.foreign_keys):
                found.add(name)
                grown = True
    return found


def at_path(data: dict, path: str) -> list:
    """The values at an EXPORTED_TABLES path ("[]" steps into each list item)."""
    items = [data]
    for step in path.split("."):
        key, many = step.removesuffix("[]"), step.endswith("[]")
        values = [item.get(key) for item in items]
        items = [v for value in values if value is not None for v in (value if many else [value])]
    return items


def test_every_table_with_citizen_data_is_exported_or_left_out_on_purpose():
    tables = set(Base.metadata.tables)
    assert set(privacy.EXPORTED_TABLES) <= tables, "EXPORTED_TABLES names a table that does not exist"
    assert LEFT_OUT.issubset(tables), "LEFT_OUT names a table that does not exist"
    assert not LEFT_OUT & set(privacy.EXPORTED_TABLES)
    referencing_users = {name for name, t in Base.metadata.tables.items()
                         if any(fk.column.table.name == "users" for fk in t.foreign_keys)}
    assert referencing_users <= citizen_tables() | LEFT_OUT
    missing = citizen_tables() - set(privacy.EXPORTED_TABLES)
    assert not missing, f"tables holding citizen data that the export leaves out: {sorted(missing)}"


def seed_everything(session):
    """A citizen with a row in every table the export covers."""
    citizen = make_citizen(session, birth_date=date(1961, 4, 12), locale="en", notify_by_email=False)
    odense = make_staff(session)
    request = make_request(session, citizen, answers={"description": "Jeg har brug for hjælp"})
    draft = make_request(session, citizen, status=RequestStatus.DRAFT, reference=None, filed_at=None,
                         filed_on=None, service_type_slug="housing-benefit", answers={"rent": "5200"})
    session.add(Attachment(request_id=draft.id, kind="lease", filename="lejekontrakt.pdf",
                           stored_name=uuid.uuid4().hex, content_type="application/pdf", size=48213,
                           sha256="0" * 64))
    session.commit()
    case = cases.route_request(session, request.id)[0]  # cases, events, routing decision
    session.add_all([
        Handover(case_id=case.id, from_authority_id="municipality-461", to_authority_id="state-udbetaling-danmark",
                 reason="Hører under Udbetaling Danmark", sent_by_id=odense.id),
        Message(case_id=case.id, sender_id=odense.id, to_citizen=True, body="Vi har modtaget din ansøgning."),
        Message(case_id=case.id, sender_id=citizen.id, to_citizen=False, body="Tak, jeg sender lægeerklæringen."),
        DecisionCheck(request_id=request.id, case_id=case.id, service_type_slug="home-care", rule_set_version=1,
                      outcome="granted", instant=True,
                      evaluation={"summary": {"da": "Du får hjemmehjælp.", "en": "You get home help."},
                                  "results": [], "appeal_to": "state-ankestyrelsen"}),
        Notification(key=f"test:{uuid.uuid4().hex}", user_id=citizen.id, case_id=case.id, kind="message",
                     reference=case.reference),
        SurveyInvitation(case_id=case.id, citizen_id=citizen.id, authority_id=case.authority_id,
                         service_type_slug="home-care", answered_at=utcnow()),
    ])
    plan = Plan(citizen_id=citizen.id, lead_authority_id="municipality-461", situation="Jeg er syg",
                wishes="Komme i arbejde", review_on=date.today() + timedelta(days=90), status="closed",
                closed_at=utcnow(), closed_by_id=citizen.id, closed_reason="goals_met")
    session.add(plan)
    session.flush()
    goal = Goal(plan_id=plan.id, title="Arbejde 10 timer om ugen", measure="Timer om ugen",
                due_on=date.today() + timedelta(days=60))
    session.add_all([
        goal,
        PlanParticipant(plan_id=plan.id, authority_id="municipality-461", consent_given_at=utcnow()),
        PlanChange(plan_id=plan.id, actor_id=citizen.id, what="plan_closed", data={"reason": "goals_met"}),
        PlanComment(plan_id=plan.id, author_id=citizen.id, body="Jeg vil gerne have et møde."),
        PlanNotification(key=f"test:{uuid.uuid4().hex}", plan_id=plan.id, user_id=citizen.id, kind="plan_closed"),
        CoordinationOffer(citizen_id=citizen.id, request_id=request.id, reason="several_authorities",
                          authority_ids=["municipality-461", "state-udbetaling-danmark"],
                          lead_authority_id="municipality-461", status="accepted", plan_id=plan.id),
    ])
    session.flush()
    session.add(Action(goal_id=goal.id, title="Samtale på jobcentret", authority_id="municipality-461",
                       responsible_name="Jobcentret", due_on=date.today() + timedelta(days=14)))
    session.commit()
    return citizen, case, plan


def test_a_full_export_shows_a_row_of_every_exported_table(client, session, login):
    citizen, _, _ = seed_everything(session)
    login(citizen)
    data = json.loads(client.get("/mine/privacy/data.json").get_data(as_text=True))
    empty = [table for table, path in privacy.EXPORTED_TABLES.items() if not at_path(data, path)]
    assert not empty, f"seeded but not in the export: {empty}"


def test_the_export_holds_the_citizens_own_messages_too(client, session, login):
    citizen, _, _ = seed_everything(session)
    login(citizen)
    data = json.loads(client.get("/mine/privacy/data.json").get_data(as_text=True))
    messages = data["requests"][0]["cases"][0]["messages"]
    assert [(m["from"], m["body"]) for m in messages] == [
        ("authority", "Vi har modtaget din ansøgning."), ("you", "Tak, jeg sender lægeerklæringen.")]
    html = client.get("/mine/privacy/data").get_data(as_text=True)
    assert "Tak, jeg sender lægeerklæringen." in html


def test_the_export_holds_the_whole_profile_and_no_secrets(client, session, login):
    citizen, _, _ = seed_everything(session)
    login(citizen)
    response = client.get("/mine/privacy/data.json")
    person = json.loads(response.get_data(as_text=True))["person"]
    assert person["birth_date"] == "1961-04-12"
    assert person["email"] == citizen.email
    assert person["language"] == "en"
    assert person["notify_by_email"] is False
    assert person["municipality_code"] == "461"
    text = response.get_data(as_text=True).lower()
    assert not re.search(r'"[a-z_]*(secret|token|session|password)[a-z_]*":', text)


def test_drafts_and_their_attachments_are_listed_with_a_download_link(client, session, login):
    citizen, _, _ = seed_everything(session)
    login(citizen)
    data = json.loads(client.get("/mine/privacy/data.json").get_data(as_text=True))
    draft = next(r for r in data["requests"] if r["draft"])
    assert draft["answers"] == {"rent": "5200"}
    [attachment] = draft["attachments"]
    assert (attachment["filename"], attachment["content_type"], attachment["size"]) == (
        "lejekontrakt.pdf", "application/pdf", 48213)
    assert attachment["uploaded_at"]
    html = client.get("/mine/privacy/data").get_data(as_text=True)
    assert f'href="/bilag/{attachment["id"]}"' in html
    assert "lejekontrakt.pdf" in html
    assert client.get(f"/bilag/{attachment['id']}").status_code in (200, 404)  # the route exists; no file here


def test_decisions_offers_plans_surveys_and_notifications_are_in_the_export(client, session, login):
    citizen, case, plan = seed_everything(session)
    login(citizen)
    data = json.loads(client.get("/mine/privacy/data.json").get_data(as_text=True))
    filed = next(r for r in data["requests"] if not r["draft"])
    assert filed["decision"]["outcome"] == "granted" and filed["decision"]["instant"] is True
    assert filed["routing"]["decision"]
    [offer] = data["coordination_offers"]
    assert offer["status"] == "accepted" and offer["plan_id"] == plan.id
    [exported_plan] = data["plans"]
    assert (exported_plan["status"], exported_plan["closed_reason"]) == ("closed", "goals_met")
    assert exported_plan["goals"][0]["actions"][0]["title"] == "Samtale på jobcentret"
    assert exported_plan["comments"][0]["body"] == "Jeg vil gerne have et møde."
    assert data["surveys"][0]["case_reference"] == case.reference and data["surveys"][0]["answered_at"]
    assert {n["plan_id"] for n in data["notifications"]} >= {plan.id, None}


def test_the_readable_page_shows_the_plan_offer_and_decision_in_danish(client, session, login):
    citizen, _, _ = seed_everything(session)
    login(citizen)
    html = client.get("/mine/privacy/data", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "Samlede planer" in html and "Målene er nået" in html  # the closed plan and why
    assert "Samtale på jobcentret" in html
    assert "Du får hjemmehjælp." in html
    assert "12. april 1961" in html and "1961-04-12" not in html  # a Danish date, not ISO


def test_exporting_ones_own_plans_writes_one_audit_row(client, session, login):
    citizen, _, plan = seed_everything(session)
    login(citizen)
    before = session.scalar(select(func.count()).select_from(AuditEntry))
    assert client.get("/mine/privacy/data.json").status_code == 200
    rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id).offset(before)))
    assert [r.action for r in rows] == ["privacy.export"]
