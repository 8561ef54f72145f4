"""One coordinated plan per citizen: consent, goals, actions, log, access rules.

Every use case is one function that commits once. Access is decided here, never in
the views: a citizen reaches only their own plan; a member of staff reaches a plan
only while the citizen's consent stands for their authority. Anyone else gets
``PlanNotFound`` (the views answer 404, identical to a missing plan) and a ``deny``
audit row is committed. Every staff view and every change writes an audit row in the
same transaction as the change; every change also writes a ``PlanChange`` (the
plan's log) and, for the people concerned, a notification sent by an outbox job.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import yaml
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from portal import limits
from portal.models import (
    Action,
    ActionStatus,
    AuditOutcome,
    Authority,
    AuthorityKind,
    Case,
    Goal,
    Plan,
    PlanChange,
    PlanComment,
    PlanNotification,
    PlanParticipant,
    Request,
    Role,
    User,
)
from portal.models.base import utcnow
from portal.numbers import parse_id
from portal.services import audit
from portal.services.deadlines import danish_today

TEMPLATES_FILE = Path(__file__).resolve().parent.parent / "data" / "plan_templates.yaml"
REVIEW_MONTHS = 6
# How long before the review date the lead coordinator is reminded.
REMINDER_DAYS = 14
NOTE_LIMIT = 2000  # characters in a closing note
OPEN_STATUSES = (ActionStatus.PLANNED, ActionStatus.STARTED)


# --- errors -------------------------------------------------------------------------


class PlanNotFound(LookupError):
    """No such plan, or not for this user: the caller must answer exactly as for a
    missing plan (404)."""


class PlanInvalid(ValueError):
    """The input cannot be used; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(", ".join(errors))
        self.errors = errors


class PlanClosed(RuntimeError):
    """A change to a closed plan: it can be read, not changed."""

    def __init__(self, plan_id: int):
        super().__init__(f"plan {plan_id} is closed")
        self.plan_id = plan_id


class PlanConflict(RuntimeError):
    """Someone else changed the item since the form was loaded; ``current`` is the
    item as it is now (freshly read)."""

    def __init__(self, current):
        super().__init__("edited by someone else")
        self.current = current


# --- small helpers ------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the month's last day (31 Aug + 6 = 28 Feb)."""
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def default_review_date(today: date) -> date:
    """The default next review: six months from today, as the law asks."""
    return add_months(today, REVIEW_MONTHS)


def involved_authorities(session: Session, citizen_id: int) -> list[Authority]:
    """Authorities holding a case of the citizen's, municipality first."""
    ids = session.scalars(
        select(Case.authority_id).join(Request, Case.request_id == Request.id)
        .where(Request.citizen_id == citizen_id).distinct()
    ).all()
    rows = [session.get(Authority, i) for i in ids]
    order = {AuthorityKind.MUNICIPALITY: 0, AuthorityKind.REGION: 1, AuthorityKind.STATE: 2}
    return sorted(rows, key=lambda a: (order[a.kind], a.id))


def default_lead(citizen: User, authorities: list[Authority]) -> Authority | None:
    """The municipality of residence if it is involved, else the first involved."""
    for a in authorities:
        if a.kind == AuthorityKind.MUNICIPALITY and a.code == citizen.municipality_code:
            return a
    return authorities[0] if authorities else None


ACTIVE, CLOSED = "active", "closed"
IS_ACTIVE = Plan.status == ACTIVE  # the condition, for queries
# Why a plan ends (the form's choices; "other" needs a note).
CLOSE_REASONS = ("goals_met", "no_longer_needed", "citizen_wish", "other")
# What may still be done to a closed plan: read it, and give or withdraw consent to
# read it. Every other action is a change (or the form for one) and is refused.
_ALLOWED_WHEN_CLOSED = frozenset({"plan.view", "plan.print", "plan.export", "plan.consent"})


def active_plan_of(session: Session, citizen_id: int) -> Plan | None:
    return session.scalar(select(Plan).where(Plan.citizen_id == citizen_id, IS_ACTIVE).order_by(Plan.id))


def _participant(plan: Plan, authority_id: str | None) -> PlanParticipant | None:
    for p in plan.participants:
        if p.authority_id == authority_id:
            return p
    return None


def consenting(plan: Plan) -> list[PlanParticipant]:
    return [p for p in plan.participants if p.has_consent]


def _log(session: Session, plan: Plan, actor: User | None, what: str, **data) -> PlanChange:
    change = PlanChange(plan_id=plan.id, actor_id=actor.id if actor else None, what=what, data=data)
    session.add(change)
    session.flush()
    return change


def _audit(session: Session, actor: User, plan: Plan, action: str, outcome=AuditOutcome.ALLOW, **details):
    audit.record(session, actor=actor, action=action, outcome=outcome, subject_id=plan.citizen_id,
                 details={"plan_id": plan.id, **details})


# --- access -------------------------------------------------------------------------


@dataclass
class Access:
    """A plan as one user may reach it."""

    plan: Plan
    user: User
    participant: PlanParticipant | None  # the staff member's authority on the plan

    @property
    def is_citizen(self) -> bool:
        return self.participant is None

    @property
    def is_lead(self) -> bool:
        return self.participant is not None and self.participant.authority_id == self.plan.lead_authority_id

    @property
    def is_open(self) -> bool:
        return self.plan.status == ACTIVE

    @property
    def may_close(self) -> bool:
        """The citizen or the lead authority may end an open plan."""
        return self.is_open and (self.is_citizen or self.is_lead)

    def may_edit_action(self, action: Action) -> bool:
        if self.is_citizen or not self.is_open:
            return False
        return self.is_lead or action.authority_id == self.user.authority_id

    def may_mark_done(self, action: Action) -> bool:
        return self.is_open and self.is_citizen and action.owned_by_citizen and action.status in OPEN_STATUSES


def authorize(session: Session, user: User, plan_id: int, action: str = "plan.view") -> Access:
    """The plan ``plan_id`` as ``user`` may reach it; raises ``PlanNotFound``, or
    ``PlanClosed`` when ``action`` would change a closed plan.

    A refusal is audited (``deny``) and committed at once, because the caller answers
    404 and writes nothing else. An allowed staff access adds an ``allow`` row for
    ``action`` to the session; the caller commits it with its change.
    """
    # A change locks the plan row (PostgreSQL), so it waits for a change in flight,
    # such as ending the plan, and then sees the plan as that change left it.
    plan = session.get(Plan, plan_id, with_for_update=action not in _ALLOWED_WHEN_CLOSED, populate_existing=True,
                       options=[selectinload(Plan.participants), selectinload(Plan.goals).selectinload(Goal.actions)])
    if user.role == Role.CITIZEN:
        if plan is not None and plan.citizen_id == user.id:
            return _unless_closed(Access(plan, user, None), action)
    elif plan is not None:
        participant = _participant(plan, user.authority_id)
        if participant is not None and participant.has_consent:
            access = _unless_closed(Access(plan, user, participant), action)
            _audit(session, user, plan, action)
            return access
    audit.record(session, actor=user, action=action, outcome=AuditOutcome.DENY,
                 subject_id=plan.citizen_id if plan else None, details={"plan_id": plan_id})
    session.commit()
    raise PlanNotFound(plan_id)


def _unless_closed(access: Access, action: str) -> Access:
    if not access.is_open and action not in _ALLOWED_WHEN_CLOSED:
        raise PlanClosed(access.plan.id)
    return access


def refuse(session: Session, access: Access, action: str, item_id: int | None = None):
    """Refuse a reached plan's item to this user: drop any pending change, commit a
    ``deny`` row, and raise ``PlanNotFound`` (answered like a missing item)."""
    plan_id, subject = access.plan.id, access.plan.citizen_id
    session.rollback()
    audit.record(session, actor=access.user, action=action, outcome=AuditOutcome.DENY, subject_id=subject,
                 details={"plan_id": plan_id, "item_id": item_id})
    session.commit()
    raise PlanNotFound(item_id or plan_id)


# --- reading ------------------------------------------------------------------------


@dataclass
class PlanView:
    """What a plan page shows to one user."""

    access: Access
    authorities: dict[str, Authority]
    people: dict[int, User]
    comments: list[PlanComment]
    changes: list[PlanChange]
    cases: list[Case]  # the viewer's own cases (staff: their authority's; citizen: theirs)
    linked_cases: dict[int, Case]
    today: date
    last_change_id: int = 0
    overdue: set[int] = field(default_factory=set)

    @property
    def plan(self) -> Plan:
        return self.access.plan

    def shows_internal_note(self, case: Case) -> bool:
        """Only staff of the case's own authority ever see its internal note."""
        return not self.access.is_citizen and case.authority_id == self.access.user.authority_id


def last_change_id(session: Session, plan_id: int) -> int:
    return session.scalar(select(func.max(PlanChange.id)).where(PlanChange.plan_id == plan_id)) or 0


def view_plan(session: Session, user: User, plan_id: int, today: date | None = None,
              action: str = "plan.view") -> PlanView:
    """Everything the plan page shows to ``user``; audits staff views. Commits."""
    result = _read_plan(session, user, plan_id, today, action)
    session.commit()
    return result


def _read_plan(session: Session, user: User, plan_id: int, today: date | None, action: str) -> PlanView:
    """``view_plan`` without the commit: a staff view's audit row stays in the session."""
    access = authorize(session, user, plan_id, action)
    plan = access.plan
    today = today or danish_today()
    ids = {p.authority_id for p in plan.participants} | {plan.lead_authority_id}
    ids |= {a.authority_id for g in plan.goals for a in g.actions if a.authority_id}
    authorities = {a.id: a for a in session.scalars(select(Authority).where(Authority.id.in_(ids)))}
    comments = list(session.scalars(select(PlanComment).where(PlanComment.plan_id == plan.id).order_by(PlanComment.id)))
    changes = list(session.scalars(select(PlanChange).where(PlanChange.plan_id == plan.id).order_by(PlanChange.id.desc())))
    people_ids = {plan.citizen_id} | {c.actor_id for c in changes if c.actor_id} | {c.author_id for c in comments}
    people_ids |= {p.coordinator_id for p in plan.participants if p.coordinator_id}
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(people_ids)))}
    case_stmt = select(Case).join(Request, Case.request_id == Request.id).where(Request.citizen_id == plan.citizen_id)
    if not access.is_citizen:
        case_stmt = case_stmt.where(Case.authority_id == user.authority_id)
    cases = list(session.scalars(case_stmt.order_by(Case.id)))
    linked_ids = {a.case_id for g in plan.goals for a in g.actions if a.case_id}
    linked = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(linked_ids)))} if linked_ids else {}
    overdue = {a.id for g in plan.goals for a in g.actions if is_overdue(a, today)} if access.is_open else set()
    return PlanView(access, authorities, people, comments, changes, cases, linked, today,
                    changes[0].id if changes else 0, overdue)


def changed_since(session: Session, user: User, plan_id: int, since: int) -> bool:
    """Whether the plan changed after log entry ``since``, for live updates.

    Answers without an audit row while nothing changed (nothing is shown then); a
    refused user still gets ``PlanNotFound`` and a ``deny`` row.
    """
    plan = session.get(Plan, plan_id)
    if plan is not None:
        if user.role == Role.CITIZEN and plan.citizen_id == user.id:
            return last_change_id(session, plan_id) > since
        participant = _participant(plan, user.authority_id)
        if user.role != Role.CITIZEN and participant is not None and participant.has_consent:
            return last_change_id(session, plan_id) > since
    authorize(session, user, plan_id, "plan.view")  # raises, with the deny row
    return False  # pragma: no cover


def is_overdue(action: Action, today: date) -> bool:
    return action.due_on < today and action.status in OPEN_STATUSES


def plans_for(session: Session, user: User) -> list[Plan]:
    """The plans ``user`` may open: a citizen's own; staff: plans with consent for
    their authority (audited as one list view). Commits."""
    if user.role == Role.CITIZEN:
        return list(session.scalars(select(Plan).where(Plan.citizen_id == user.id).order_by(Plan.id)))
    rows = list(session.scalars(
        select(Plan).join(PlanParticipant, PlanParticipant.plan_id == Plan.id)
        .where(PlanParticipant.authority_id == user.authority_id,
               PlanParticipant.consent_given_at.is_not(None),
               PlanParticipant.consent_withdrawn_at.is_(None))
        .order_by(Plan.id)
    ))
    audit.record(session, actor=user, action="plan.list", details={"count": len(rows)})
    session.commit()
    return rows


def citizens_with_cases_at(session: Session, authority_id: str) -> list[User]:
    """Citizens with a case at ``authority_id`` (for starting a plan on their behalf)."""
    return list(session.scalars(
        select(User).join(Request, Request.citizen_id == User.id).join(Case, Case.request_id == Request.id)
        .where(Case.authority_id == authority_id).distinct().order_by(User.name)
    ))


# --- starting a plan and consent ----------------------------------------------------


def start_form(session: Session, actor: User, citizen_id: int | None) -> tuple[User, list[Authority]]:
    """The citizen a plan would be started for, and the authorities holding their cases.

    A citizen gets their own. Staff may look only at a citizen with a case at their
    own authority; the form shows that citizen's name and every authority they have a
    case at, so the look is audited (``plan.start_form``) with the citizen as subject
    and shows in their "who has seen my data". Raises ``PlanNotFound`` (with a
    ``deny`` row) otherwise. Commits.
    """
    if actor.role == Role.CITIZEN:
        return actor, involved_authorities(session, actor.id)
    citizen = session.get(User, citizen_id) if citizen_id else None
    if citizen is not None and citizen.role != Role.CITIZEN:
        citizen = None
    involved = involved_authorities(session, citizen.id) if citizen is not None else []
    allowed = actor.authority_id is not None and actor.authority_id in {a.id for a in involved}
    audit.record(session, actor=actor, action="plan.start_form",
                 outcome=AuditOutcome.ALLOW if allowed else AuditOutcome.DENY,
                 subject_id=citizen.id if citizen else None, details={} if allowed else {"asked_for": citizen_id})
    session.commit()
    if not allowed:
        raise PlanNotFound(citizen_id)
    return citizen, involved


ALREADY_A_PLAN = _l("There is already a plan. Open it instead of starting a new one.")


def start_plan(
    session: Session, actor: User, *, citizen_id: int | None = None, lead_authority_id: str | None = None,
    consent_to: list[str] | None = None, situation: str = "", wishes: str = "",
    template_slug: str | None = None, locale: str = "da", today: date | None = None,
    staff_consent_confirmed: bool = False,
) -> Plan:
    """Start the citizen's one plan. Commits.

    The citizen starts it for themselves (``consent_to`` lists the authorities they
    share it with; the lead must be among them), or a caseworker of an involved
    authority starts it on the citizen's behalf, recording the consent the citizen
    gave them in person for their own authority only (``staff_consent_confirmed``);
    the citizen gives the other authorities consent themselves. Raises ``PlanInvalid`` (fewer
    than two involved authorities, an active plan exists, a bad lead or consent) or
    ``PlanNotFound`` (staff with no case of that citizen).
    """
    if actor.role == Role.CITIZEN:
        citizen = actor
    else:
        citizen = session.get(User, citizen_id) if citizen_id else None
        if citizen is None or citizen.role != Role.CITIZEN or actor.authority_id not in {
            a.id for a in involved_authorities(session, citizen.id)
        }:
            audit.record(session, actor=actor, action="plan.start", outcome=AuditOutcome.DENY,
                         subject_id=citizen.id if citizen else None)
            session.commit()
            raise PlanNotFound(citizen_id)
    try:
        plan = propose_plan(session, actor, citizen, lead_authority_id=lead_authority_id, consent_to=consent_to,
                            situation=situation, wishes=wishes, template_slug=template_slug, locale=locale,
                            today=today, staff_consent_confirmed=staff_consent_confirmed)
        session.commit()
    except IntegrityError:
        # Two starts at once (PostgreSQL): both saw no plan, and the index allowing
        # one active plan per citizen refused the second.
        session.rollback()
        if active_plan_of(session, citizen.id) is None:
            raise
        raise PlanInvalid({"plan": ALREADY_A_PLAN}) from None
    return plan


def propose_plan(
    session: Session, actor: User, citizen: User, *, lead_authority_id: str | None = None,
    consent_to: list[str] | None = None, situation: str = "", wishes: str = "",
    template_slug: str | None = None, locale: str = "da", today: date | None = None,
    staff_consent_confirmed: bool = False,
) -> Plan:
    """``start_plan`` for a citizen the actor may start a plan for (themselves, or one
    with a case at the caseworker's authority), without the commit: the plan, its log,
    audit rows and notifications are added to the session, for the caller to commit
    with its own change (``coordination.accept``). Raises ``PlanInvalid``; the flush
    raises ``IntegrityError`` if another plan of the citizen's became active meanwhile.
    """
    today = today or danish_today()
    involved = involved_authorities(session, citizen.id)
    involved_ids = [a.id for a in involved]
    errors: dict[str, str] = {}
    if active_plan_of(session, citizen.id) is not None:
        errors["plan"] = ALREADY_A_PLAN
    if len(involved) < 2:
        errors["plan"] = _l("A coordinated plan needs cases at two or more authorities.")
    lead = lead_authority_id or (default_lead(citizen, involved).id if involved else None)
    if lead not in involved_ids:
        errors["lead_authority"] = _l("Choose the lead authority among the authorities involved.")
    if actor.role == Role.CITIZEN:
        consent_to = [a for a in (consent_to or []) if a in involved_ids]
        if lead not in consent_to:
            errors["consent"] = _l("Give consent at least for the lead authority, which runs the plan.")
    else:
        consent_to = [actor.authority_id]
        if not staff_consent_confirmed:
            errors["consent_confirmed"] = _l("Confirm that the citizen has agreed to share the plan with your authority.")
        if lead != actor.authority_id:
            errors["lead_authority"] = _l("When you start the plan, your own authority leads it.")
    template = None
    if template_slug:
        template = next((t for t in load_templates() if t["slug"] == template_slug), None)
        if template is None:
            errors["template"] = _l("Choose one of the templates.")
    if errors:
        raise PlanInvalid(errors)
    plan = Plan(citizen_id=citizen.id, lead_authority_id=lead, situation=situation.strip(),
                wishes=wishes.strip(), review_on=default_review_date(today), status=ACTIVE)
    session.add(plan)
    session.flush()
    now = utcnow()
    for a in involved:
        coordinator = actor.id if actor.authority_id == a.id else None
        session.add(PlanParticipant(plan_id=plan.id, authority_id=a.id, coordinator_id=coordinator,
                                    consent_given_at=now if a.id in consent_to else None))
    session.flush()
    session.refresh(plan)
    _log(session, plan, actor, "plan_started", lead_authority_id=lead, on_behalf=actor.id != citizen.id)
    for authority_id in consent_to:
        _log(session, plan, actor, "consent_given", authority_id=authority_id,
             recorded_by_staff=actor.role != Role.CITIZEN)
    audit.record(session, actor=actor, action="plan.start", subject_id=citizen.id,
                 details={"plan_id": plan.id, "consent_to": consent_to})
    if template is not None:
        _apply_template(session, plan, actor, template, locale, today)
    return plan


def set_consent(session: Session, citizen: User, plan_id: int, authority_id: str, give: bool,
                today: date | None = None) -> PlanParticipant:
    """Give or withdraw consent for one authority. Only the citizen may. Commits.

    Withdrawing removes that authority's access to the plan at once (not to its own
    case); if it led the plan, the lead passes to another authority with consent
    (the municipality of residence first). Raises ``PlanNotFound``/``PlanInvalid``.
    """
    access = authorize(session, citizen, plan_id, "plan.consent")
    if not access.is_citizen:
        refuse(session, access, "plan.consent")
    plan = access.plan
    participant = _participant(plan, authority_id)
    if participant is None:
        raise PlanInvalid({"authority": _l("That authority is not involved in your plan.")})
    if give == participant.has_consent:
        return participant
    if give:
        participant.consent_given_at = utcnow()
        participant.consent_withdrawn_at = None
        _log(session, plan, citizen, "consent_given", authority_id=authority_id)
        audit.record(session, actor=citizen, action="plan.consent_given", subject_id=citizen.id,
                     details={"plan_id": plan.id, "authority_id": authority_id})
    else:
        participant.consent_withdrawn_at = utcnow()
        _log(session, plan, citizen, "consent_withdrawn", authority_id=authority_id)
        audit.record(session, actor=citizen, action="plan.consent_withdrawn", subject_id=citizen.id,
                     details={"plan_id": plan.id, "authority_id": authority_id})
        if plan.lead_authority_id == authority_id:
            remaining = [session.get(Authority, p.authority_id) for p in consenting(plan)]
            new_lead = default_lead(citizen, sorted(remaining, key=lambda a: (a.kind != AuthorityKind.MUNICIPALITY, a.id)))
            if new_lead is not None:
                plan.lead_authority_id = new_lead.id
                _log(session, plan, citizen, "lead_changed", authority_id=new_lead.id, reason="consent_withdrawn")
    session.commit()
    return participant


def become_coordinator(session: Session, actor: User, plan_id: int) -> PlanParticipant:
    """Make ``actor`` the named coordinator of their authority on the plan. Commits."""
    access = authorize(session, actor, plan_id, "plan.coordinator")
    if access.is_citizen:
        refuse(session, access, "plan.coordinator")
    access.participant.coordinator_id = actor.id
    _log(session, access.plan, actor, "coordinator_set", authority_id=actor.authority_id, user_id=actor.id)
    session.commit()
    return access.participant


def update_own_words(session: Session, citizen: User, plan_id: int, *, situation: str, wishes: str,
                     version: int) -> Plan:
    """The citizen rewrites their situation and wishes. Raises ``PlanConflict``. Commits."""
    access = authorize(session, citizen, plan_id, "plan.own_words")
    if not access.is_citizen:
        refuse(session, access, "plan.own_words")
    plan = access.plan
    if plan.version != version:
        raise PlanConflict(plan)
    plan.situation, plan.wishes = situation.strip(), wishes.strip()
    _log(session, plan, citizen, "own_words_changed")
    _commit_or_conflict(session, plan)
    return plan


def set_review(session: Session, actor: User, plan_id: int, review_on: date | None, reviewed: bool = False,
               today: date | None = None) -> Plan:
    """The lead authority sets the next review date (at most six months ahead), or
    records that the review was held (the next one then defaults to six months on).
    Raises ``PlanNotFound`` for anyone else, ``PlanInvalid`` for a bad date. Commits."""
    today = today or danish_today()
    access = authorize(session, actor, plan_id, "plan.review")
    if not access.is_lead:
        refuse(session, access, "plan.review")
    if reviewed:
        review_on = review_on or default_review_date(today)
    if review_on is None or not today <= review_on <= default_review_date(today):
        raise PlanInvalid({"review_on": _l("Choose a review date between today and six months from now.")})
    plan = access.plan
    old = plan.review_on
    plan.review_on = review_on
    _log(session, plan, actor, "reviewed" if reviewed else "review_date_set",
         review_on=review_on.isoformat(), previous=old.isoformat())
    _commit_or_conflict(session, plan)
    return plan


def hand_over_lead(session: Session, actor: User, plan_id: int, authority_id: str) -> Plan:
    """The lead authority passes the lead (and the reviews) to another authority
    with consent. Raises ``PlanNotFound`` for anyone but the lead's staff,
    ``PlanInvalid`` for an authority without consent. Commits."""
    access = authorize(session, actor, plan_id, "plan.lead_handover")
    if not access.is_lead:
        refuse(session, access, "plan.lead_handover")
    target = _participant(access.plan, authority_id)
    if target is None or not target.has_consent or authority_id == access.plan.lead_authority_id:
        raise PlanInvalid({"lead_authority": _l("Choose another authority that has the citizen's consent.")})
    access.plan.lead_authority_id = authority_id
    change = _log(session, access.plan, actor, "lead_changed", authority_id=authority_id, reason="handover")
    _notify_participants(session, access.plan, change, actor)
    _commit_or_conflict(session, access.plan)
    return access.plan


def close_plan(session: Session, actor: User, plan_id: int, reason: str, note: str, *, version: int) -> Plan:
    """End the plan: the citizen or the lead authority, with a reason ("other" needs
    a note). The plan stays readable for all with consent and cannot be changed; a
    new plan may then be started. The citizen and every coordinator are told.
    Raises ``PlanNotFound`` for anyone else, ``PlanInvalid``, ``PlanConflict``,
    ``PlanClosed``. Commits."""
    access = authorize(session, actor, plan_id, "plan.close")
    if not access.may_close:
        refuse(session, access, "plan.close")
    note = note.strip()
    errors = {}
    if reason not in CLOSE_REASONS:
        errors["reason"] = _l("Choose why the plan ends.")
    elif reason == "other" and not note:
        errors["note"] = _l("Write why the plan ends.")
    if len(note) > NOTE_LIMIT:
        errors["note"] = _l("Write at most %(limit)d characters.", limit=NOTE_LIMIT)
    if errors:
        raise PlanInvalid(errors)
    plan = access.plan
    if plan.version != version:
        raise PlanConflict(plan)
    plan.status, plan.closed_at, plan.closed_by_id = CLOSED, utcnow(), actor.id
    plan.closed_reason, plan.closed_note = reason, note or None
    change = _log(session, plan, actor, "plan_closed", reason=reason)
    _send_to(session, plan, change, actor, [session.get(User, plan.citizen_id), *_coordinators(session, plan)],
             kind="plan_closed")
    _commit_or_conflict(session, plan)
    return plan


# --- goals and actions --------------------------------------------------------------


def _parse_date(value, field_name: str, errors: dict, message) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        errors[field_name] = message
        return None


def _parse_number(value, field_name: str, errors: dict, required: bool) -> float | None:
    text = ("" if value is None else str(value)).strip().replace(",", ".")
    if not text:
        if required:
            errors[field_name] = _l("Enter a number.")
        return None
    try:
        number = float(text)
    except ValueError:
        errors[field_name] = _l("Enter a number, for example 37 or 2.5.")
        return None
    if not math.isfinite(number):  # "nan", "inf", "1e999": not a measurement, and not JSON
        errors[field_name] = _l("Enter an ordinary number, for example 37 or 2.5.")
        return None
    return number


def _goal_fields(form) -> dict:
    errors: dict[str, str] = {}
    values = {
        "title": (form.get("title") or "").strip(),
        "measure": (form.get("measure") or "").strip(),
        "agreed_by": (form.get("agreed_by") or "").strip(),
    }
    if not values["title"]:
        errors["title"] = _l("Enter what the goal is.")
    for name in ("title", "measure", "agreed_by"):
        if limits.too_long(values[name], limits.LINE):
            errors[name] = limits.too_long(values[name], limits.LINE)
    if not values["measure"]:
        errors["measure"] = _l("Enter how progress is measured.")
    values["baseline"] = _parse_number(form.get("baseline"), "baseline", errors, required=True)
    values["target_value"] = _parse_number(form.get("target_value"), "target_value", errors, required=True)
    values["due_on"] = _parse_date(form.get("due_on"), "due_on", errors,
                                   _l("Enter the date the goal should be reached, like 2027-03-31."))
    if not values["agreed_by"]:
        errors["agreed_by"] = _l("Enter who agreed to the goal.")
    if errors:
        raise PlanInvalid(errors)
    return values


def add_goal(session: Session, actor: User, plan_id: int, form) -> Goal:
    """A caseworker adds a SMART goal. Raises ``PlanInvalid``/``PlanNotFound``. Commits."""
    access = authorize(session, actor, plan_id, "plan.goal_added")
    if access.is_citizen:
        refuse(session, access, "plan.goal_added")
    values = _goal_fields(form)
    goal = Goal(plan_id=access.plan.id, measurements=[], **values)
    session.add(goal)
    session.flush()
    _claim_coordinator(access)
    change = _log(session, access.plan, actor, "goal_added", goal_id=goal.id, title=goal.title)
    _notify_participants(session, access.plan, change, actor)
    session.commit()
    return goal


def update_goal(session: Session, actor: User, plan_id: int, goal_id: int, form, *, version: int) -> Goal:
    """A caseworker of any authority on the plan changes a goal (every change is
    logged and the coordinators told). Raises ``PlanConflict`` for a stale form,
    ``PlanInvalid``/``PlanNotFound``. Commits."""
    access = authorize(session, actor, plan_id, "plan.goal_changed")
    goal = _goal_of(session, access, goal_id)
    if access.is_citizen:
        refuse(session, access, "plan.goal_changed", goal_id)
    if goal.version != version:
        raise PlanConflict(goal)
    values = _goal_fields(form)
    changed = {k: [_plain(getattr(goal, k)), _plain(v)] for k, v in values.items() if getattr(goal, k) != v}
    for key, value in values.items():
        setattr(goal, key, value)
    change = _log(session, access.plan, actor, "goal_changed", goal_id=goal.id, title=goal.title,
                  changed=changed)
    _notify_participants(session, access.plan, change, actor)
    _commit_or_conflict(session, goal)
    return goal


def record_measurement(session: Session, actor: User, plan_id: int, goal_id: int, *, value, measured_on,
                       version: int, today: date | None = None) -> Goal:
    """Add a measurement to a goal's history (staff of a participant). Commits."""
    access = authorize(session, actor, plan_id, "plan.measurement")
    goal = _goal_of(session, access, goal_id)
    if access.is_citizen:
        refuse(session, access, "plan.measurement", goal_id)
    errors: dict[str, str] = {}
    number = _parse_number(value, "value", errors, required=True)
    on = _parse_date(measured_on, "measured_on", errors, _l("Enter the date of the measurement, like 2027-01-15."))
    if on is not None and on > (today or danish_today()):
        errors["measured_on"] = _l("A measurement cannot be in the future.")
    if errors:
        raise PlanInvalid(errors)
    if goal.version != version:
        raise PlanConflict(goal)
    goal.measurements = sorted([*goal.measurements, {"on": on.isoformat(), "value": number, "by": actor.id}],
                               key=lambda m: m["on"])
    change = _log(session, access.plan, actor, "measurement_added", goal_id=goal.id, value=number, on=on.isoformat())
    _notify_participants(session, access.plan, change, actor)
    _commit_or_conflict(session, goal)
    return goal


def _goal_of(session: Session, access: Access, goal_id: int) -> Goal:
    for g in access.plan.goals:
        if g.id == goal_id:
            return g
    refuse(session, access, "plan.goal", goal_id)


def _action_of(session: Session, access: Access, action_id: int) -> Action:
    for g in access.plan.goals:
        for a in g.actions:
            if a.id == action_id:
                return a
    refuse(session, access, "plan.action", action_id)


def _action_fields(session: Session, access: Access, form, *, creating: bool) -> dict:
    """Validate an action form. Responsibility goes to exactly one party: an
    authority with consent on the plan, or the citizen ("citizen")."""
    errors: dict[str, str] = {}
    plan = access.plan
    values: dict = {"title": (form.get("title") or "").strip(),
                    "responsible_name": (form.get("responsible_name") or "").strip()}
    if not values["title"]:
        errors["title"] = _l("Enter what will be done.")
    responsible = (form.get("responsible") or "").strip()
    allowed = {p.authority_id for p in consenting(plan)}
    if responsible == "citizen":
        values["authority_id"], values["owned_by_citizen"] = None, True
        citizen = session.get(User, plan.citizen_id)
        values["responsible_name"] = values["responsible_name"] or citizen.name
    elif responsible in allowed:
        values["authority_id"], values["owned_by_citizen"] = responsible, False
    else:
        errors["responsible"] = _l("Choose who is responsible: you or one authority on the plan.")
    if not values["responsible_name"] and "responsible" not in errors:
        errors["responsible_name"] = _l("Enter the name of the person responsible.")
    values["responsible_user_id"] = None
    if values.get("authority_id") and values["responsible_name"]:
        # A name that matches exactly one member of that authority's staff links the
        # action to them, so they are told about changes to it.
        matches = session.scalars(select(User.id).where(
            User.authority_id == values["authority_id"],
            func.lower(User.name) == values["responsible_name"].lower())).all()
        values["responsible_user_id"] = matches[0] if len(matches) == 1 else None
    values["due_on"] = _parse_date(form.get("due_on"), "due_on", errors, _l("Enter a due date, like 2027-01-31."))
    status = (form.get("status") or ActionStatus.PLANNED.value).strip()
    try:
        values["status"] = ActionStatus(status)
    except ValueError:
        errors["status"] = _l("Choose a status.")
    case_id = (form.get("case_id") or "").strip()
    values["case_id"] = None
    if case_id:
        # Only a case of this citizen at the responsible authority may be linked;
        # any other id (tampered or stale) is refused.
        case = session.get(Case, parse_id(case_id)) if parse_id(case_id) else None
        if (case is None or case.request.citizen_id != plan.citizen_id
                or case.authority_id != values.get("authority_id")):
            errors["case_id"] = _l("Link only a case of the responsible authority.")
        else:
            values["case_id"] = case.id
    if errors:
        raise PlanInvalid(errors)
    return values


def add_action(session: Session, actor: User, plan_id: int, goal_id: int, form) -> Action:
    """A caseworker adds an action under a goal. Raises ``PlanInvalid``/``PlanNotFound``. Commits."""
    access = authorize(session, actor, plan_id, "plan.action_added")
    if access.is_citizen:
        refuse(session, access, "plan.action_added")
    goal = _goal_of(session, access, goal_id)
    values = _action_fields(session, access, form, creating=True)
    action = Action(goal_id=goal.id, **values)
    session.add(action)
    session.flush()
    _claim_coordinator(access)
    change = _log(session, access.plan, actor, "action_added", action_id=action.id, title=action.title,
                  authority_id=action.authority_id, due_on=action.due_on.isoformat())
    _notify_concerned(session, access.plan, change, actor, action)
    session.commit()
    return action


def update_action(session: Session, actor: User, plan_id: int, action_id: int, form, *, version: int) -> Action:
    """Change an action, refusing a stale form. Commits.

    ``version`` is the action's version the form was loaded with; if someone saved
    in between, raises ``PlanConflict`` carrying the action as it is now, and nothing
    is overwritten. Staff of the responsible authority or of the lead may edit.
    """
    access = authorize(session, actor, plan_id, "plan.action_changed")
    action = _action_of(session, access, action_id)
    if not access.may_edit_action(action):
        refuse(session, access, "plan.action_changed", action_id)
    if action.version != version:
        raise PlanConflict(action)
    values = _action_fields(session, access, form, creating=False)
    before = {k: _plain(getattr(action, k)) for k in values}
    for key, value in values.items():
        setattr(action, key, value)
    after = {k: _plain(getattr(action, k)) for k in values}
    changed = {k: [before[k], after[k]] for k in values if before[k] != after[k]}
    change = _log(session, access.plan, actor, "action_changed", action_id=action.id, title=action.title,
                  changed=changed)
    _notify_concerned(session, access.plan, change, actor, action)
    _commit_or_conflict(session, action)
    return action


def mark_action_done(session: Session, citizen: User, plan_id: int, action_id: int, *, version: int) -> Action:
    """The citizen marks one of their own actions done. Raises ``PlanConflict``. Commits."""
    access = authorize(session, citizen, plan_id, "plan.action_done")
    action = _action_of(session, access, action_id)
    if not access.is_citizen or not action.owned_by_citizen:
        refuse(session, access, "plan.action_done", action_id)
    if action.version != version:
        raise PlanConflict(action)
    action.status = ActionStatus.DONE
    change = _log(session, access.plan, citizen, "action_done", action_id=action.id, title=action.title)
    _notify_concerned(session, access.plan, change, citizen, action)
    _commit_or_conflict(session, action)
    return action


def add_comment(session: Session, actor: User, plan_id: int, body: str, kind: str = "comment",
                action_id: int | None = None) -> PlanComment:
    """A comment, or a proposed change, on the plan. The coordinators of every
    authority with consent are notified of the citizen's. Commits."""
    access = authorize(session, actor, plan_id, f"plan.{'proposal' if kind == 'proposal' else 'comment'}")
    comment = comment_on(session, access, body, kind, action_id)
    session.commit()
    return comment


def comment_on(session: Session, access: Access, body: str, kind: str = "comment",
               action_id: int | None = None) -> PlanComment:
    """``add_comment`` on a plan already reached with ``authorize``, without the
    commit (the caller commits it with its own change). Raises ``PlanInvalid``."""
    actor = access.user
    body = (body or "").strip()
    if kind not in ("comment", "proposal"):
        kind = "comment"
    if not body:
        raise PlanInvalid({"body": _l("Write your comment or proposal.")})
    if limits.too_long(body, limits.MESSAGE):
        raise PlanInvalid({"body": limits.too_long(body, limits.MESSAGE)})
    action = _action_of(session, access, action_id) if action_id else None
    comment = PlanComment(plan_id=access.plan.id, author_id=actor.id, kind=kind, body=body,
                          action_id=action.id if action else None)
    session.add(comment)
    session.flush()
    change = _log(session, access.plan, actor, f"{kind}_added", comment_id=comment.id,
                  action_id=action.id if action else None)
    if action is not None:
        _notify_concerned(session, access.plan, change, actor, action)
    else:
        _notify_participants(session, access.plan, change, actor)
    return comment


def export_plan(session: Session, user: User, plan_id: int) -> dict:
    """The plan as plain data (for the JSON export and GDPR access). Audited. Commits."""
    return plan_data(view_plan(session, user, plan_id, action="plan.export"))


def citizen_plans_data(session: Session, citizen: User) -> list[dict]:
    """Every plan of ``citizen``, open or closed, each as ``export_plan`` gives it, for
    the citizen's own data export: reads only (a citizen's reading writes no audit
    row) and does not commit, so the export commits once."""
    ids = session.scalars(select(Plan.id).where(Plan.citizen_id == citizen.id).order_by(Plan.id))
    return [plan_data(_read_plan(session, citizen, plan_id, None, "plan.export")) for plan_id in list(ids)]


def plan_data(view: PlanView) -> dict:
    """The plan of ``view`` as plain data, as its viewer may see it."""
    plan = view.plan
    names = view.authorities

    def who(a: Action) -> dict:
        if a.owned_by_citizen:
            return {"party": "citizen", "name": a.responsible_name}
        return {"party": "authority", "authority_id": a.authority_id,
                "authority": names[a.authority_id].name_da, "name": a.responsible_name}

    return {
        "plan_id": plan.id,
        "status": plan.status,
        "created_at": plan.created_at.isoformat(),
        "closed_at": plan.closed_at.isoformat() if plan.closed_at else None,
        "closed_by": view.people[plan.closed_by_id].name if plan.closed_by_id in view.people else None,
        "closed_reason": plan.closed_reason,
        "closed_note": plan.closed_note,
        "lead_authority_id": plan.lead_authority_id,
        "review_on": plan.review_on.isoformat(),
        "situation": plan.situation,
        "wishes": plan.wishes,
        "participants": [
            {"authority_id": p.authority_id, "consent": p.has_consent,
             "coordinator": view.people[p.coordinator_id].name if p.coordinator_id in view.people else None,
             "consent_given_at": p.consent_given_at.isoformat() if p.consent_given_at else None,
             "consent_withdrawn_at": p.consent_withdrawn_at.isoformat() if p.consent_withdrawn_at else None}
            for p in plan.participants
        ],
        "goals": [
            {"id": g.id, "title": g.title, "measure": g.measure, "baseline": g.baseline,
             "target_value": g.target_value, "due_on": g.due_on.isoformat(), "agreed_by": g.agreed_by,
             "measurements": [{"on": m["on"], "value": m["value"]} for m in g.measurements],
             "actions": [
                 {"id": a.id, "title": a.title, "responsible": who(a), "due_on": a.due_on.isoformat(),
                  "status": a.status.value, "overdue": a.id in view.overdue,
                  "case_reference": view.linked_cases[a.case_id].reference if a.case_id in view.linked_cases else None}
                 for a in g.actions
             ]}
            for g in plan.goals
        ],
        "comments": [{"at": c.created_at.isoformat(), "kind": c.kind, "body": c.body,
                      "author": view.people[c.author_id].name} for c in view.comments],
        "log": [{"at": c.at.isoformat(), "what": c.what,
                 "who": view.people[c.actor_id].name if c.actor_id in view.people else None}
                for c in reversed(view.changes)],
    }


def _plain(value):
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, ActionStatus):
        return value.value
    return value


def _claim_coordinator(access: Access) -> None:
    """The first caseworker of an authority to work on the plan becomes its named
    coordinator, so every participant has one."""
    if access.participant is not None and access.participant.coordinator_id is None:
        access.participant.coordinator_id = access.user.id


def _commit_or_conflict(session: Session, item) -> None:
    """Commit; a concurrent save caught by the version column becomes ``PlanConflict``."""
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        session.expire_all()
        current = session.get(type(item), item.id)
        raise PlanConflict(current) from None


# --- templates ----------------------------------------------------------------------


@cache
def _templates_from(path: str) -> tuple:
    return tuple(yaml.safe_load(Path(path).read_text(encoding="utf-8"))["templates"])


def load_templates() -> list[dict]:
    """The plan templates shipped in ``portal/data/plan_templates.yaml``."""
    return list(_templates_from(str(TEMPLATES_FILE)))


def _text(value, locale: str) -> str:
    if isinstance(value, dict):
        return value.get(locale) or value.get("da") or ""
    return str(value)


def _apply_template(session: Session, plan: Plan, actor: User, template: dict, locale: str, today: date) -> None:
    """Pre-fill goals and actions with due dates counted from ``today``.

    An action goes to the involved authority of the template's kind (the lead when
    none is involved), named after its coordinator (or the actor, if it is theirs).
    """
    participants = {p.authority_id: p for p in plan.participants}
    by_kind: dict[str, str] = {}
    for authority_id in participants:
        a = session.get(Authority, authority_id)
        by_kind.setdefault(a.kind.value, a.id)
    citizen = session.get(User, plan.citizen_id)
    for g in template["goals"]:
        goal = Goal(plan_id=plan.id, title=_text(g["title"], locale), measure=_text(g["measure"], locale),
                    baseline=g.get("baseline"), target_value=g.get("target_value"),
                    due_on=today + timedelta(days=g["due_in_days"]), agreed_by=actor.name, measurements=[])
        session.add(goal)
        session.flush()
        for a in g.get("actions", []):
            if a["responsible"] == "citizen":
                authority_id, name = None, citizen.name
            else:
                authority_id = by_kind.get(a["responsible"], plan.lead_authority_id)
                coordinator = participants[authority_id].coordinator_id if authority_id in participants else None
                person = session.get(User, coordinator) if coordinator else None
                name = person.name if person else _coordinator_placeholder(session, authority_id, locale)
            session.add(Action(goal_id=goal.id, title=_text(a["title"], locale), authority_id=authority_id,
                               owned_by_citizen=authority_id is None, responsible_name=name,
                               due_on=today + timedelta(days=a["due_in_days"])))
    session.flush()
    session.refresh(plan)
    _log(session, plan, actor, "template_applied", template=template["slug"])


def _coordinator_placeholder(session: Session, authority_id: str, locale: str) -> str:
    """Until the authority names its coordinator, the action names the role; the
    page shows the authority beside it."""
    from flask_babel import force_locale, gettext

    with force_locale(locale):
        return gettext("Coordinator (to be named)")


def apply_template(session: Session, actor: User, plan_id: int, slug: str, locale: str = "da",
                   today: date | None = None) -> Plan:
    """A caseworker adds a template's goals and actions to an existing plan. Commits."""
    access = authorize(session, actor, plan_id, "plan.template_applied")
    if access.is_citizen:
        refuse(session, access, "plan.template_applied")
    template = next((t for t in load_templates() if t["slug"] == slug), None)
    if template is None:
        raise PlanInvalid({"template": _l("Choose one of the templates.")})
    _claim_coordinator(access)
    _apply_template(session, access.plan, actor, template, locale, today or danish_today())
    session.commit()
    return access.plan


# --- notifications and reminders ----------------------------------------------------


def _queue(session: Session, plan: Plan, user: User, kind: str, key: str) -> PlanNotification | None:
    if session.scalar(select(PlanNotification.id).where(PlanNotification.key == key)) is not None:
        return None
    channel_ok = bool(user.email and user.notify_by_email)
    note = PlanNotification(key=key, plan_id=plan.id, user_id=user.id, kind=kind,
                            status="pending" if channel_ok else "skipped")
    session.add(note)
    session.flush()
    if channel_ok:
        from portal.plans import jobs
        from portal.services.outbox import add_job

        add_job(session, jobs.send_plan_notification, notification_id=note.id)
    return note


def _coordinators(session: Session, plan: Plan, authority_ids: set[str] | None = None) -> list[User]:
    people = []
    for p in consenting(plan):
        if p.coordinator_id and (authority_ids is None or p.authority_id in authority_ids):
            people.append(session.get(User, p.coordinator_id))
    return people


def _send_to(session: Session, plan: Plan, change: PlanChange, actor: User, people: list[User],
             kind: str | None = None) -> None:
    if kind is None:
        citizen_wrote = change.what in ("comment_added", "proposal_added") and actor.role == Role.CITIZEN
        kind = change.what if citizen_wrote else "plan_changed"
    seen = set()
    for person in people:
        if person is None or person.id == actor.id or person.id in seen:
            continue
        seen.add(person.id)
        _queue(session, plan, person, kind, f"plan-change:{change.id}:{person.id}")


def _notify_participants(session: Session, plan: Plan, change: PlanChange, actor: User) -> None:
    """Tell every coordinator on the plan (consent standing) about a change."""
    _send_to(session, plan, change, actor, _coordinators(session, plan))


def _notify_concerned(session: Session, plan: Plan, change: PlanChange, actor: User, action: Action) -> None:
    """Tell those an action concerns: its responsible person, its authority's
    coordinator and the lead's coordinator, if their consent stands."""
    concerned = {plan.lead_authority_id} | ({action.authority_id} if action.authority_id else set())
    people = _coordinators(session, plan, concerned)
    if action.responsible_user_id and action.authority_id and (p := _participant(plan, action.authority_id)) and p.has_consent:
        people.append(session.get(User, action.responsible_user_id))
    _send_to(session, plan, change, actor, people)


def queue_review_reminders(session: Session, today: date | None = None) -> int:
    """Remind the lead coordinator (and the citizen) of reviews due within
    ``REMINDER_DAYS`` or overdue. Safe to run twice: one reminder per person per
    review date. Returns how many were queued. Commits."""
    today = today or danish_today()
    plans = session.scalars(
        select(Plan).where(IS_ACTIVE, Plan.review_on <= today + timedelta(days=REMINDER_DAYS))
    ).all()
    queued = 0
    for plan in plans:
        lead = _participant(plan, plan.lead_authority_id)
        people = [session.get(User, plan.citizen_id)]
        if lead is not None and lead.has_consent and lead.coordinator_id:
            people.append(session.get(User, lead.coordinator_id))
        for person in people:
            key = f"review:{plan.id}:{plan.review_on.isoformat()}:{person.id}"
            if _queue(session, plan, person, "review_due", key) is not None:
                queued += 1
                _log(session, plan, None, "review_reminder", user_id=person.id, review_on=plan.review_on.isoformat())
    session.commit()
    return queued


NOTIFICATION_TEXTS = {
    "plan_changed": (_l("A coordinated plan has changed"),
                     _l("There is a change in a coordinated plan you take part in. Read it after logging in: %(link)s")),
    "comment_added": (_l("The citizen has commented on a coordinated plan"),
                      _l("The citizen has written a comment on a coordinated plan you take part in. Read it after logging in: %(link)s")),
    "proposal_added": (_l("The citizen proposes a change to a coordinated plan"),
                       _l("The citizen proposes a change to a coordinated plan you take part in. Read it after logging in: %(link)s")),
    "plan_closed": (_l("A coordinated plan has ended"),
                    _l("A coordinated plan you take part in has ended. You can still read it after logging in: %(link)s")),
    "review_due": (_l("A coordinated plan is due for review"),
                   _l("A coordinated plan is due for review soon. Read it after logging in: %(link)s")),
}


def send_notification(session: Session, notification_id: int, *, smtp_host: str, smtp_port: int,
                      mail_from: str, base_url: str) -> bool:
    """E-mail one plan notification unless it was sent already; no personal details,
    only a link. Returns True if sent now. Raises ``OSError``/``SMTPException`` when
    the SMTP server refuses (the job is retried). Commits."""
    import smtplib
    from email.message import EmailMessage

    from flask_babel import force_locale

    stmt = select(PlanNotification).where(PlanNotification.id == notification_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    note = session.scalar(stmt)
    if note is None or note.status != "pending":
        session.rollback()
        return False
    user = session.get(User, note.user_id)
    subject, body = NOTIFICATION_TEXTS[note.kind]
    with force_locale(user.locale if user.locale in ("da", "en") else "da"):
        message = EmailMessage()
        message["Subject"] = str(subject)
        message["From"] = mail_from
        message["To"] = user.email
        message.set_content(str(body) % {"link": f"{base_url.rstrip('/')}/plans/{note.plan_id}"})
    with smtplib.SMTP(smtp_host, smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    note.status, note.sent_at = "sent", utcnow()
    session.commit()
    return True


# --- retention ----------------------------------------------------------------------

# What people typed into goals and actions; the plan's log copies these into "title"
# and "changed" (see ``update_goal``/``update_action``).
_GOAL_TEXT = ("title", "measure", "agreed_by")
_ACTION_TEXT = ("title", "responsible_name")


def anonymise_ended_plans(session: Session, retention_days: int, now=None) -> int:
    """Erase the free text of plans that ended more than ``retention_days`` ago.

    Erased: the citizen's situation and wishes, the closing note, comment and
    proposal bodies, goal titles, measures and who agreed, action titles and
    responsible names, and the copies of these in the plan's log. Kept: the plan's
    structure (participants and consent dates, goals' dates and measurements,
    actions' authorities, dates and statuses, the log's kinds and times) for
    statistics. Active plans and plans ended more recently are untouched. Each plan
    is marked ``anonymised_at`` and gets one ``retention.plan_anonymised`` audit row;
    a second run finds nothing. Commits. Returns how many plans were anonymised now.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    plans = list(session.scalars(
        select(Plan).where(Plan.status == CLOSED, Plan.closed_at < cutoff, Plan.anonymised_at.is_(None))
        .order_by(Plan.id)
    ))
    for plan in plans:
        plan.situation, plan.wishes, plan.closed_note = "", "", None
        for comment in session.scalars(select(PlanComment).where(PlanComment.plan_id == plan.id)):
            comment.body = ""
        for goal in session.scalars(select(Goal).where(Goal.plan_id == plan.id)):
            for name in _GOAL_TEXT:
                setattr(goal, name, "")
            for action in session.scalars(select(Action).where(Action.goal_id == goal.id)):
                for name in _ACTION_TEXT:
                    setattr(action, name, "")
        for change in session.scalars(select(PlanChange).where(PlanChange.plan_id == plan.id)):
            change.data = _without_free_text(change.data or {})
        plan.anonymised_at = now
        audit.record(session, actor=None, action="retention.plan_anonymised", subject_id=plan.citizen_id,
                     details={"plan_id": plan.id})
    session.commit()
    return len(plans)


def _without_free_text(data: dict) -> dict:
    """A log entry's data with typed text blanked: its keys, ids and dates stay."""
    free = set(_GOAL_TEXT) | set(_ACTION_TEXT)
    data = dict(data)  # a new dict: JSON columns are not tracked in place
    if data.get("title"):
        data["title"] = ""
    if isinstance(data.get("changed"), dict):
        data["changed"] = {key: (["", ""] if key in free else values) for key, values in data["changed"].items()}
    return data
