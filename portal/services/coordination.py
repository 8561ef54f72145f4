"""Complex needs, coordinated early: offering a citizen a coordinated assessment.

A citizen is offered one when a routing decision involves several authorities, when
they have open cases at two or more authorities, or when they ask for it. The lead
authority is chosen by the rules in ``routing/coordination/lead.yaml``. Accepting asks
the citizen's consent per authority and proposes one plan through the plans service
(``portal.services.plans.propose_plan``, in the same transaction), pre-filled from the
plan template of the service where there is one; the citizen may also ask for a joint
meeting.

Coordinators see how many citizens were offered an assessment, how many accepted,
and how long it took until the plan existed.
"""

from __future__ import annotations

import functools
import statistics
from dataclasses import dataclass, field

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.models import (
    Authority,
    Case,
    CaseStatus,
    CoordinationOffer,
    Plan,
    Request,
    RequestStatus,
    User,
)
from portal.models.base import utcnow
from portal.services import audit
from routing.coordination import Involved, LeadRules, load_lead_rules

OPEN = (CaseStatus.PENDING, CaseStatus.ACCEPTED, CaseStatus.IN_PROGRESS, CaseStatus.AWAITING_CITIZEN)
SEVERAL_AUTHORITIES, OPEN_CASES, CITIZEN_ASKED = "several_authorities", "open_cases", "citizen_asked"
OFFERED, ACCEPTED, DECLINED = "offered", "accepted", "declined"


class OfferNotFound(LookupError):
    """No such offer for this citizen (same answer whether it exists or not)."""


class OfferInvalid(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("invalid: " + ", ".join(errors))
        self.errors = errors


@functools.lru_cache(maxsize=1)
def lead_rules() -> LeadRules:
    """The shipped lead rules, parsed once per process."""
    return load_lead_rules()


def open_authorities(session: Session, citizen_id: int) -> list[Authority]:
    """Authorities where the citizen has an open case, municipalities first."""
    ids = set(session.scalars(
        select(Case.authority_id).join(Request, Request.id == Case.request_id)
        .where(Request.citizen_id == citizen_id, Case.status.in_(OPEN))
    ))
    return _ordered(session, ids)


def _ordered(session: Session, ids) -> list[Authority]:
    order = {"municipality": 0, "region": 1, "state": 2}
    rows = [session.get(Authority, i) for i in ids]
    return sorted((a for a in rows if a is not None), key=lambda a: (order[a.kind.value], a.id))


def choose_lead(citizen: User, authorities: list[Authority], reason: str):
    """The lead authority among ``authorities`` by the lead rules (or None)."""
    involved = [Involved(a.id, a.kind.value, a.code) for a in authorities]
    return lead_rules().choose(involved, municipality_code=citizen.municipality_code, reason=reason)


def current_offer(session: Session, citizen_id: int) -> CoordinationOffer | None:
    """The citizen's offer that is still open or accepted, newest first."""
    return session.scalar(
        select(CoordinationOffer).where(CoordinationOffer.citizen_id == citizen_id,
                                        CoordinationOffer.status.in_([OFFERED, ACCEPTED]))
        .order_by(CoordinationOffer.offered_at.desc(), CoordinationOffer.id.desc()).limit(1)
    )


def _has_plan(session: Session, citizen_id: int) -> Plan | None:
    from portal.services.plans import active_plan_of

    return active_plan_of(session, citizen_id)


def offer_if_complex(session: Session, request_id: int) -> CoordinationOffer | None:
    """After routing: offer a coordinated assessment when the request went to several
    authorities, or the citizen now has open cases at two or more. Commits.

    Idempotent: one offer per request, and none while the citizen has an open or
    accepted offer or an active plan. Raises ``LookupError`` for an unknown request.
    """
    request = session.get(Request, request_id)
    if request is None:
        raise LookupError(f"no request {request_id}")
    existing = session.scalar(select(CoordinationOffer).where(CoordinationOffer.request_id == request_id))
    if existing is not None or request.status not in (RequestStatus.ROUTED, RequestStatus.CLOSED):
        return existing
    routed_to = set(session.scalars(select(Case.authority_id).where(Case.request_id == request_id)))
    offer = _offer_for(session, request, routed_to)
    if offer is None:
        return None
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return session.scalar(select(CoordinationOffer).where(CoordinationOffer.request_id == request_id))
    return offer


def offer_after_routing(session: Session, request: Request, cases: list[Case]) -> CoordinationOffer | None:
    """``offer_if_complex`` for a request routed into ``cases`` in the caller's
    transaction (flushed): adds the offer, if any; the caller commits."""
    return _offer_for(session, request, {case.authority_id for case in cases})


def _offer_for(session: Session, request: Request, routed_to: set[str]) -> CoordinationOffer | None:
    """Add an offer when ``request``, routed to ``routed_to``, makes the citizen's needs
    complex. One query answers whether the citizen has an offer or plan already and
    whether they have open cases at another authority; the authorities are read only
    when an offer is made."""
    citizen = request.citizen
    offered, planned, elsewhere = session.execute(
        _situation(), {"citizen_id": citizen.id, "routed_to": sorted(routed_to)}).one()
    if offered or planned:
        return None
    if len(routed_to) >= 2:
        reason = SEVERAL_AUTHORITIES
        authorities = _ordered(session, routed_to | {a.id for a in open_authorities(session, citizen.id)})
    elif elsewhere:
        reason = OPEN_CASES
        authorities = open_authorities(session, citizen.id)
    else:
        return None
    return _new_offer(session, citizen, authorities, reason, request_id=request.id)


@functools.cache
def _situation() -> Select:
    """Has the citizen an open or accepted offer, an active plan, an open case at an
    authority outside ``routed_to``? (Built once: building it costs more than running it.)"""
    from portal.services.plans import IS_ACTIVE

    citizen_id = bindparam("citizen_id")
    has_offer = select(CoordinationOffer.id).where(
        CoordinationOffer.citizen_id == citizen_id, CoordinationOffer.status.in_([OFFERED, ACCEPTED])).exists()
    has_plan = select(Plan.id).where(Plan.citizen_id == citizen_id, IS_ACTIVE).exists()
    open_elsewhere = (
        select(Case.id).join(Request, Request.id == Case.request_id)
        .where(Request.citizen_id == citizen_id, Case.status.in_(OPEN),
               Case.authority_id.not_in(bindparam("routed_to", expanding=True)))
        .exists()
    )
    return select(has_offer, has_plan, open_elsewhere)


def _new_offer(session: Session, citizen: User, authorities: list[Authority], reason: str,
               request_id: int | None = None) -> CoordinationOffer:
    lead = choose_lead(citizen, authorities, reason)
    offer = CoordinationOffer(citizen_id=citizen.id, request_id=request_id, reason=reason,
                              authority_ids=[a.id for a in authorities],
                              lead_authority_id=lead.authority_id if lead else None,
                              lead_rule_id=lead.rule_id if lead else None)
    session.add(offer)
    session.flush()
    audit.record(session, actor=None if reason != CITIZEN_ASKED else citizen, action="coordination.offered",
                 request_id=request_id, subject_id=citizen.id,
                 details={"offer_id": offer.id, "reason": reason, "authorities": offer.authority_ids,
                          "lead": offer.lead_authority_id, "lead_rule": offer.lead_rule_id})
    if reason != CITIZEN_ASKED:
        from portal.services.notifications import queue_notification

        queue_notification(session, key=f"coordination-offer:{offer.id}", user=citizen,
                           kind="coordination_offered", reference=None)
    return offer


def ask(session: Session, citizen: User) -> CoordinationOffer:
    """The citizen says they need a coordinated assessment: their open or accepted
    offer, or a new one over the authorities with their open cases. Commits."""
    found = current_offer(session, citizen.id)
    if found is not None:
        return found
    offer = _new_offer(session, citizen, open_authorities(session, citizen.id), CITIZEN_ASKED)
    session.commit()
    return offer


def own_offer(session: Session, citizen: User, offer_id: int) -> CoordinationOffer:
    """The citizen's own offer; raises ``OfferNotFound`` for anyone else's."""
    offer = session.get(CoordinationOffer, offer_id)
    if offer is None or offer.citizen_id != citizen.id:
        raise OfferNotFound(offer_id)
    return offer


@dataclass
class OfferView:
    offer: CoordinationOffer
    authorities: list[Authority]
    lead: Authority | None
    because_da: str = ""
    because_en: str = ""
    plan: Plan | None = None
    errors: dict = field(default_factory=dict)

    def because(self, locale: str) -> str:
        return self.because_en if locale == "en" else self.because_da


def view_offer(session: Session, citizen: User, offer_id: int) -> OfferView:
    """What the offer page shows; raises ``OfferNotFound``."""
    offer = own_offer(session, citizen, offer_id)
    # Authorities may have joined since the offer: show the current picture.
    ids = list(dict.fromkeys(offer.authority_ids + [a.id for a in open_authorities(session, citizen.id)]))
    authorities = _ordered(session, ids)
    rule = next((r for r in lead_rules().rules if r.id == offer.lead_rule_id), None)
    plan = session.get(Plan, offer.plan_id) if offer.plan_id else None
    return OfferView(offer=offer, authorities=authorities,
                     lead=session.get(Authority, offer.lead_authority_id) if offer.lead_authority_id else None,
                     because_da=rule.because.da if rule else "", because_en=rule.because.en if rule else "",
                     plan=plan)


def accept(session: Session, citizen: User, offer_id: int, *, consent_to: list[str], meeting: bool = False,
           situation: str = "", wishes: str = "", locale: str = "da") -> CoordinationOffer:
    """The citizen accepts: consent is given per authority (the lead at least), and one
    plan is proposed through the plans service, or the active plan is linked. With
    ``meeting`` the citizen asks for a joint meeting (a comment on the plan for every
    authority with consent). One commit: the answer, the plan, its link and the
    comment land together or not at all.

    Raises ``OfferNotFound``, or ``OfferInvalid`` (already answered, no consent for the
    lead, or a refusal from the plans service).
    """
    args = dict(consent_to=consent_to, meeting=meeting, situation=situation, wishes=wishes, locale=locale)
    try:
        return _accept(session, citizen, offer_id, **args)
    except IntegrityError:
        # PostgreSQL: a plan of the citizen's became active after this transaction
        # looked (a caseworker started one at the same moment), and the index allowing
        # one active plan per citizen refused ours. Once more from the start: the offer
        # is then answered already, or the new plan is linked.
        session.rollback()
        return _accept(session, citizen, offer_id, **args)


def _accept(session: Session, citizen: User, offer_id: int, *, consent_to: list[str], meeting: bool,
            situation: str, wishes: str, locale: str) -> CoordinationOffer:
    from portal.services import plans

    offer = _locked_offer(session, citizen, offer_id)
    if offer.status != OFFERED:
        raise OfferInvalid({"offer": _l("You have already answered this offer.")})
    view = view_offer(session, citizen, offer_id)
    involved = {a.id for a in view.authorities}
    consent_to = [a for a in consent_to if a in involved]
    if offer.lead_authority_id and offer.lead_authority_id not in consent_to:
        raise OfferInvalid({"consent": _l("Give consent at least for the lead authority, which runs the assessment.")})
    now = utcnow()
    offer.status = ACCEPTED
    offer.responded_at = now
    if meeting:
        offer.meeting_requested_at = now
    audit.record(session, actor=citizen, action="coordination.accepted", subject_id=citizen.id,
                 details={"offer_id": offer.id, "consent_to": consent_to, "meeting": bool(meeting)})
    plan = plans.active_plan_of(session, citizen.id)
    try:
        if plan is None and len(plans.involved_authorities(session, citizen.id)) >= 2:
            plan = plans.propose_plan(session, citizen, citizen, lead_authority_id=offer.lead_authority_id,
                                      consent_to=consent_to, situation=situation, wishes=wishes,
                                      template_slug=_template_for(session, offer), locale=locale)
        if plan is not None:
            offer.plan_id = plan.id
            offer.plan_at = max(plan.created_at, offer.offered_at) if plan.created_at else now
            if meeting:
                _ask_for_meeting(session, citizen, plan.id, locale)
    except plans.PlanInvalid as exc:
        session.rollback()
        raise OfferInvalid(exc.errors) from None
    session.commit()
    return offer


def _locked_offer(session: Session, citizen: User, offer_id: int) -> CoordinationOffer:
    """``own_offer``, read afresh with its row locked (PostgreSQL; SQLite's writer
    lock is taken when the transaction begins), so that of two answers at once (a
    double POST) the second waits for the first and then sees the offer answered."""
    offer = session.get(CoordinationOffer, offer_id, with_for_update=True, populate_existing=True)
    if offer is None or offer.citizen_id != citizen.id:
        raise OfferNotFound(offer_id)
    return offer


def _ask_for_meeting(session: Session, citizen: User, plan_id: int, locale: str) -> None:
    """The citizen's request for a joint meeting, as a comment on their plan (the
    coordinators with consent are notified). Not committed."""
    from portal.services import plans

    with force_locale(citizen.locale if citizen.locale in ("da", "en") else locale):
        body = _("I would like a joint meeting with every authority involved in my plan.")
    plans.comment_on(session, plans.authorize(session, citizen, plan_id, "plan.comment"), body)


def _template_for(session: Session, offer: CoordinationOffer) -> str | None:
    """The plan template named like the service of the request behind the offer."""
    from portal.services.plans import load_templates

    if offer.request_id is None:
        return None
    slug = session.get(Request, offer.request_id).service_type_slug
    return slug if any(t["slug"] == slug for t in load_templates()) else None


def decline(session: Session, citizen: User, offer_id: int) -> CoordinationOffer:
    """The citizen says no thanks. Commits. Raises ``OfferNotFound``/``OfferInvalid``."""
    offer = own_offer(session, citizen, offer_id)
    if offer.status != OFFERED:
        raise OfferInvalid({"offer": _l("You have already answered this offer.")})
    offer.status = DECLINED
    offer.responded_at = utcnow()
    audit.record(session, actor=citizen, action="coordination.declined", subject_id=citizen.id,
                 details={"offer_id": offer.id})
    session.commit()
    return offer


def request_meeting(session: Session, citizen: User, offer_id: int, locale: str = "da") -> CoordinationOffer:
    """The citizen asks for a joint meeting after accepting: the request, and its
    comment on the plan if there is one, in one commit. Asking twice asks once."""
    offer = _locked_offer(session, citizen, offer_id)
    if offer.status != ACCEPTED:
        raise OfferInvalid({"offer": _l("Accept the coordinated assessment first.")})
    if offer.meeting_requested_at is not None:
        return offer
    offer.meeting_requested_at = utcnow()
    audit.record(session, actor=citizen, action="coordination.meeting_requested", subject_id=citizen.id,
                 details={"offer_id": offer.id})
    if offer.plan_id:
        _ask_for_meeting(session, citizen, offer.plan_id, locale)
    session.commit()
    return offer


# --- figures for coordinators -------------------------------------------------------------------


@dataclass(frozen=True)
class CoordinationFigures:
    offered: int
    accepted: int
    declined: int
    with_plan: int
    median_days_to_plan: float | None  # None below the minimum count
    by_reason: dict


def figures(session: Session, *, min_count: int) -> CoordinationFigures:
    """Citizens offered a coordinated assessment, how many accepted, and the median
    days from the offer until the plan existed (shown from ``min_count`` plans)."""
    offers = list(session.scalars(select(CoordinationOffer)))
    citizens = {o.citizen_id for o in offers}
    accepted = {o.citizen_id for o in offers if o.status == ACCEPTED}
    declined = {o.citizen_id for o in offers if o.status == DECLINED} - accepted
    days = []
    for o in offers:
        plan_at = o.plan_at
        if plan_at is None and o.status == ACCEPTED:
            # A plan started later by a caseworker counts from when it existed.
            plan = _has_plan(session, o.citizen_id)
            plan_at = max(plan.created_at, o.offered_at) if plan is not None else None
        if plan_at is not None:
            days.append((plan_at - o.offered_at).total_seconds() / 86400)
    by_reason: dict[str, int] = {}
    for o in offers:
        by_reason[o.reason] = by_reason.get(o.reason, 0) + 1
    median = round(statistics.median(days), 1) if days and len(days) >= max(min_count, 1) else None
    return CoordinationFigures(len(citizens), len(accepted), len(declined), len(days), median, by_reason)
