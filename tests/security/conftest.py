"""A small world with one of everything a form or a POST can act on, and the people
who may act on it: a citizen of Odense with a draft (and a file on it), a filed
hospital discharge routed to the region and the municipality (with a coordination
offer, a survey invitation and a shared plan), an Odense caseworker, coordinator and
administrator, a draft rule set and a statistics target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from portal.models import Attachment, Case, CoordinationOffer, Plan, Request, Role, User
from portal.models import RuleSet as RuleSetRow
from tests.factories import make_citizen, make_request, make_staff

REGION, ODENSE = "region-1083", "municipality-461"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class World:
    citizen: User
    caseworker: User
    coordinator: User
    administrator: User
    draft: Request
    attachment: Attachment
    case: Case  # Odense's case of the discharge, accepted by the caseworker
    unroutable: Request
    offer: CoordinationOffer
    plan: Plan
    goal_id: int
    action_id: int
    rule_set: RuleSetRow
    target_id: int

    def user(self, role: str) -> User:
        return getattr(self, role)

    def url_values(self) -> dict:
        """A value for each URL argument of the POST routes and form pages."""
        return {"request_id": self.draft.id, "attachment_id": self.attachment.id, "step_id": "help",
                "slug": "home-care", "case_id": self.case.id, "offer_id": self.offer.id, "plan_id": self.plan.id,
                "goal_id": self.goal_id, "action_id": self.action_id, "row_id": self.rule_set.id,
                "target_id": self.target_id, "job_id": "some-failed-job"}


@pytest.fixture
def world(app, session) -> World:
    from portal.services import (
        attachments,
        cases,
        coordination,
        filing,
        plans,
        rule_sets,
        stats,
        surveys,
    )

    citizen = make_citizen(session, municipality_code="461", name="Ole Odense")
    caseworker = make_staff(session, ODENSE, name="Karen Sagsbehandler")
    coordinator = make_staff(session, ODENSE, role=Role.COORDINATOR, name="Kim Koordinator")
    administrator = make_staff(session, role=Role.ADMINISTRATOR, authority_id=None, name="Ada Admin")
    session.commit()

    draft = filing.start_draft(session, citizen, "home-care")
    draft.answers = {"help_type": "practical", "need_description": "Jeg kan ikke gøre rent.",
                     "need_since": "2026-03-01", "lives_alone": "yes"}
    session.commit()
    error = attachments.add_attachment(session, citizen, draft, kind="medical", filename="laege.pdf", data=PDF,
                               upload_dir=attachments.upload_dir(app.instance_path),
                               limits=attachments.UploadLimits(max_bytes=10**6, max_files=10),
                               allowed_kinds={"medical"})
    assert error is None, error
    session.commit()
    attachment = session.scalars(select(Attachment).where(Attachment.request_id == draft.id)).one()

    discharge = make_request(session, citizen, service_type_slug="hospital-discharge",
                             answers={"discharged_on": "2026-11-20", "hospital_name": "OUH"})
    session.commit()
    routed = cases.route_request(session, discharge.id)
    case = next(c for c in routed if c.authority_id == ODENSE)
    cases.accept_case(session, caseworker, case.id)
    surveys.invite(session, case)
    session.commit()
    offer = coordination.offer_if_complex(session, discharge.id)
    assert offer is not None, "the discharge should lead to a coordination offer"

    unroutable = make_request(session, citizen, municipality_code="999")
    session.commit()
    cases.route_request(session, unroutable.id)

    plan = plans.start_plan(session, citizen, consent_to=[REGION, ODENSE], situation="Udskrevet fra OUH")
    goal = plans.add_goal(session, caseworker, plan.id, {
        "title": "Gå 1 km", "measure": "Meter", "baseline": "100", "target_value": "1000",
        "due_on": "2027-03-01", "agreed_by": "Ole og Karen"})
    action = plans.add_action(session, caseworker, plan.id, goal.id, {
        "title": "Genoptræning", "responsible": ODENSE, "responsible_name": "Karen Sagsbehandler",
        "due_on": "2026-12-02", "status": "planned"})
    rule_set = rule_sets.create_draft(session, actor=administrator, text=rule_sets.new_draft_text(session))
    target = stats.create_target(session, coordinator, measure="decided_within_target", threshold_percent=80,
                                 within_days=None, due_on=date(2027, 6, 30), authority_id=None, service_type=None)
    session.commit()
    return World(citizen=citizen, caseworker=caseworker, coordinator=coordinator, administrator=administrator,
                 draft=draft, attachment=attachment, case=case, unroutable=unroutable, offer=offer,
                 plan=plan, goal_id=goal.id, action_id=action.id, rule_set=rule_set, target_id=target.id)
