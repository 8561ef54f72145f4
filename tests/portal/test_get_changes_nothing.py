"""No GET changes state: every page, partial and download of the app, opened by each
kind of user, leaves the database as it was, apart from audit rows (which every staff
view must write) and the read receipt of a citizen's messages when their case is
opened by its authority.

The walk takes its routes from the app's URL map, so a new page is walked too; a route
whose arguments the test cannot fill must be named in ``NOT_WALKED`` with why.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from portal.models import Message, Role
from portal.models.base import Base
from portal.services import plans
from portal.services.catalogue import get_service
from portal.services.filing import start_draft
from tests.factories import make_case, make_citizen, make_request, make_staff

# Tables a GET may change, and the columns it may change there.
ALLOWED = {"audit_log": None, "messages": {"read_at"}}
# Routes with an argument this walk does not fill, and why.
NOT_WALKED = {
    "citizen.download_attachment": "no attachment in this world (uploads are tested in test_citizen_flow)",
    "coordination.offer": "no offer in this world (tested in tests/feedback and the browser)",
    "admin.rule_set": "no stored rule set in this world (tests/portal/test_admin_rules.py)",
    "admin.check_rule_set": "as admin.rule_set",
    "admin.edit_rule_set": "as admin.rule_set",
    "admin.simulate_rule_set": "as admin.rule_set",
}


def snapshot(session, allowed: dict = ALLOWED) -> dict[str, dict]:
    """Every table's rows (by primary key), with the ``allowed`` columns left out."""
    session.expire_all()
    state = {}
    for table in Base.metadata.sorted_tables:
        if table.name in allowed and allowed[table.name] is None:
            continue
        skip = allowed.get(table.name) or set()
        columns = [c for c in table.columns if c.name not in skip]
        rows = session.execute(select(*columns)).all()
        state[table.name] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return state


@pytest.fixture
def world(session):
    citizen = make_citizen(session, municipality_code="751", name="Ane Aarhus")
    request = make_request(session, citizen, service_type_slug="hospital-discharge")
    make_case(session, request, "region-1082", assignment_index=0)
    case = make_case(session, request, "municipality-751", assignment_index=1)
    caseworker = make_staff(session, "municipality-751")
    session.add(Message(case_id=case.id, sender_id=citizen.id, to_citizen=False, body="Her er papirerne."))
    session.commit()
    plan = plans.start_plan(session, citizen, consent_to=["region-1082", "municipality-751"])
    goal = plans.add_goal(session, caseworker, plan.id, {"title": "Gå 1 km", "measure": "Meter", "baseline": "1",
                                                          "target_value": "2", "due_on": "2027-03-01",
                                                          "agreed_by": "Ane"})
    action = plans.add_action(session, caseworker, plan.id, goal.id, {
        "title": "Genoptræning", "responsible": "municipality-751", "responsible_name": "Mads",
        "due_on": "2026-12-02", "status": "planned"})
    draft = start_draft(session, citizen, "home-care")
    session.commit()
    values = {"case_id": case.id, "request_id": draft.id, "plan_id": plan.id, "goal_id": goal.id,
              "action_id": action.id, "slug": "home-care", "provider": "dev", "table": "cases", "page": "refused",
              "step_id": get_service(session, "home-care").steps[0].id}
    people = {
        "anonymous": None,
        "citizen": citizen,
        "caseworker": caseworker,
        "coordinator": make_staff(session, "municipality-751", role=Role.COORDINATOR),
        "administrator": make_staff(session, role=Role.ADMINISTRATOR, authority_id=None),
    }
    session.commit()
    return values, people


def test_no_get_changes_anything_but_audit_rows_and_read_receipts(app, client, login, session, world):
    values, people = world
    # The API (bearer tokens, no session) is walked by its own tests.
    rules = [r for r in app.url_map.iter_rules()
             if "GET" in r.methods and r.endpoint != "static" and not r.endpoint.startswith("api.")]
    unfilled = {r.endpoint for r in rules if not set(r.arguments) <= set(values)}
    assert unfilled == set(NOT_WALKED), "name a new route's arguments in values, or say why in NOT_WALKED"
    changed, walked = [], 0
    for who, user in people.items():
        with client.session_transaction() as sess:
            sess.clear()
            if user is not None:
                sess["user_id"] = user.id
        for rule in rules:
            if rule.endpoint in unfilled:
                continue
            path = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
            for headers in ({}, {"HX-Request": "true"}):
                before = snapshot(session)
                client.get(path, headers=headers)
                after = snapshot(session)
                walked += 1
                changed += [f"{who} GET {path}: {table}" for table in before if before[table] != after[table]]
    assert changed == []
    assert walked > 400
    # The one allowed change happened: the caseworker opening the case read the reply.
    session.expire_all()
    assert session.scalar(select(Message.read_at).where(Message.case_id == values["case_id"])) is not None
