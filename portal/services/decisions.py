"""Instant decisions: a service type's decision rules run by the worker after routing.

``decide_at_once`` evaluates the rules (``routing.decisions``) on the request's answers
and registry facts. When every rule is decisive, the deciding case is decided at once:
a ``decided`` event with ``instant: true`` and the rule-set version, an audit row, the
citizen notified and asked how it went. When any rule is undecided, the case stays with
the caseworkers as usual and the rule outcomes are kept for the case page.

A deterministic share of instant decisions (``INSTANT_DECISION_REVIEW_SHARE``, sampled
by a hash of the case id) is flagged for human review. Caseworkers of the deciding
authority may confirm or overturn any instant decision; both are audited.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.models import (
    AuditOutcome,
    Authority,
    AuthorityKind,
    Case,
    CaseEvent,
    CaseStatus,
    DecisionCheck,
    EventKind,
    Request,
    RequestStatus,
    Role,
    User,
)
from portal.models.base import utcnow
from portal.models.stats import stats_monthly
from portal.services import audit
from portal.services.deadlines import danish_today
from portal.services.notifications import queue_notification
from routing.decisions import (
    GRANTED,
    REFUSED,
    DecisionLibrary,
    DecisionRuleSet,
    Evaluation,
    load_decision_library,
)

STAFF_ROLES = (Role.CASEWORKER, Role.TEAM_LEAD)
DEFAULT_REVIEW_SHARE = 0.1


class DecisionNotFound(LookupError):
    """No instant decision on that case for this user (same answer as a missing case)."""


class InvalidReview(ValueError):
    """A review the rules do not allow; ``errors`` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("invalid: " + ", ".join(errors))
        self.errors = errors


@functools.lru_cache(maxsize=1)
def library() -> DecisionLibrary:
    """The shipped decision rules, parsed once per process (they are files in the release)."""
    from routing.registry import load_default_registry

    ids = frozenset(a.id for a in load_default_registry().authorities)
    return load_decision_library(authority_ids=ids)


def rules_for(request: Request) -> DecisionRuleSet | None:
    """The decision rules for ``request``'s service on its filing date, if any."""
    day = request.filed_on or danish_today(request.filed_at)
    return library().for_service(request.service_type_slug, day)


def decision_facts(session: Session, request: Request) -> dict:
    """What the decision rules see: the answers, the citizen's age on the filing date,
    and whether the registry knows the residence municipality (a Danish address)."""
    from portal.services.routing import facts_for

    facts = dict(facts_for(request).attributes)
    code = str(request.municipality_code or "")
    facts["registered_in_denmark"] = bool(code) and session.scalar(
        select(func.count()).select_from(Authority).where(
            Authority.kind == AuthorityKind.MUNICIPALITY, Authority.code == code)
    ) > 0
    return facts


def review_share() -> float:
    if has_app_context():
        return float(current_app.config.get("INSTANT_DECISION_REVIEW_SHARE", DEFAULT_REVIEW_SHARE))
    return DEFAULT_REVIEW_SHARE


def flagged_for_review(case_id: int, share: float) -> bool:
    """Deterministic sampling: the same case is always in or out of the sample."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"instant-review:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def decide_at_once(session: Session, request_id: int, *, share: float | None = None) -> DecisionCheck | None:
    """Run the decision rules of a routed request and, when every rule is decisive,
    decide its deciding case at once. Commits.

    Idempotent: a request checked already keeps its check. Returns None when the
    request is not routed or its service declares no decision rules. Raises
    ``LookupError`` for an unknown request id.
    """
    request = session.get(Request, request_id)
    if request is None:
        raise LookupError(f"no request {request_id}")
    existing = session.scalar(select(DecisionCheck).where(DecisionCheck.request_id == request_id))
    if existing is not None or request.status != RequestStatus.ROUTED:
        return existing
    if rules_for(request) is None:
        return None  # no decision rules: the cases need not be read
    cases = list(session.scalars(select(Case).where(Case.request_id == request_id).order_by(Case.assignment_index)))
    check = check_routed(session, request, cases, share=share)
    try:
        session.commit()
    except IntegrityError:
        # Another worker checked the same request at the same moment: its check stands.
        session.rollback()
        return session.scalar(select(DecisionCheck).where(DecisionCheck.request_id == request_id))
    return check


def check_routed(session: Session, request: Request, cases: list[Case], *,
                 share: float | None = None) -> DecisionCheck | None:
    """Run the decision rules of ``request``, routed into ``cases`` (in assignment
    order) in the caller's transaction, and decide its deciding case at once when
    every rule is decisive. The caller commits. None when the service declares no
    decision rules (then nothing is read or written)."""
    rule_set = rules_for(request)
    if rule_set is None:
        return None
    case = next((c for c in cases if c.role == "decides"), cases[0] if cases else None)
    evaluation = rule_set.evaluate(decision_facts(session, request))
    check = DecisionCheck(request_id=request.id, case_id=case.id if case else None,
                          service_type_slug=request.service_type_slug, rule_set_version=rule_set.version,
                          outcome=evaluation.outcome, evaluation=evaluation.to_dict())
    session.add(check)
    if evaluation.instant and case is not None and case.status == CaseStatus.PENDING:
        _decide(session, request, case, check, evaluation, share if share is not None else review_share())
    else:
        audit.record(session, actor=None, action="decision.checked", case_id=case.id if case else None,
                     request_id=request.id, subject_id=request.citizen_id,
                     details={"outcome": evaluation.outcome, "rule_set_version": rule_set.version,
                              "rules": {r.rule_id: r.status for r in evaluation.results}})
    return check


def _decide(session: Session, request: Request, case: Case, check: DecisionCheck, evaluation: Evaluation,
            share: float) -> None:
    from portal.services import surveys

    now = utcnow()
    check.instant = True
    check.review_flagged = flagged_for_review(case.id, share)
    case.status = CaseStatus.DECIDED
    case.accepted_at = now
    case.decided_at = now
    version = evaluation.rule_set_version
    _event(session, case, EventKind.ACCEPTED, {"instant": True})
    _event(session, case, EventKind.DECIDED, {"outcome": evaluation.outcome, "instant": True,
                                              "rule_set_version": version, "decision_check": True})
    _event(session, case, EventKind.STATUS_CHANGED, {"from": CaseStatus.PENDING.value,
                                                     "to": CaseStatus.DECIDED.value, "instant": True})
    audit.record(session, actor=None, action="decision.instant", case_id=case.id, request_id=request.id,
                 subject_id=request.citizen_id,
                 details={"outcome": evaluation.outcome, "rule_set_version": version,
                          "service_type": request.service_type_slug, "review_flagged": check.review_flagged,
                          "rules": {r.rule_id: r.status for r in evaluation.results}})
    queue_notification(session, key=f"instant-decision:{case.id}", user=request.citizen, kind="status_changed",
                       reference=case.reference, case_id=case.id)
    surveys.invite(session, case)


def _event(session: Session, case: Case, kind: EventKind, data: dict, actor: User | None = None) -> None:
    session.add(CaseEvent(case_id=case.id, kind=kind.value, actor_id=actor.id if actor else None,
                          authority_id=case.authority_id, data=data))


# --- reading ----------------------------------------------------------------------------


def check_for_request(session: Session, request_id: int) -> DecisionCheck | None:
    return session.scalar(select(DecisionCheck).where(DecisionCheck.request_id == request_id))


def check_for_case(session: Session, case_id: int) -> DecisionCheck | None:
    return session.scalar(select(DecisionCheck).where(DecisionCheck.case_id == case_id))


@dataclass
class CitizenDecision:
    """What the citizen's receipt shows about the decision rules of a request."""

    pending: bool  # rules apply and the worker has not run them yet: the page polls
    check: DecisionCheck | None = None
    evaluation: Evaluation | None = None
    appeal_authority: Authority | None = None

    @property
    def decided(self) -> bool:
        return self.check is not None and self.check.instant


def citizen_decision(session: Session, request: Request) -> CitizenDecision | None:
    """The decision block of the citizen's own ``request`` (the caller checks ownership):
    None when the service has no decision rules."""
    if request.status in (RequestStatus.DRAFT, RequestStatus.UNROUTABLE):
        return None
    check = check_for_request(session, request.id)
    if check is None:
        if rules_for(request) is None:
            return None
        return CitizenDecision(pending=request.status in (RequestStatus.FILED, RequestStatus.ROUTED))
    evaluation = Evaluation.from_dict(check.evaluation)
    return CitizenDecision(pending=False, check=check, evaluation=evaluation,
                           appeal_authority=session.get(Authority, evaluation.appeal_to))


# --- caseworkers review -------------------------------------------------------------------


def _staff_check(session: Session, user: User, case_id: int, action: str) -> tuple[Case, DecisionCheck]:
    """The case and its decision check if the case is at the user's authority; else a
    committed ``deny`` audit row and ``DecisionNotFound``."""
    case = session.get(Case, case_id)
    check = check_for_case(session, case_id) if case is not None else None
    if (user is None or user.role not in STAFF_ROLES or case is None or case.authority_id != user.authority_id
            or check is None):
        audit.record(session, actor=user, action=action, outcome=AuditOutcome.DENY, case_id=case_id if case else None,
                     subject_id=case.request.citizen_id if case else None, details={"asked_for": case_id})
        session.commit()
        raise DecisionNotFound(case_id)
    return case, check


def confirm(session: Session, user: User, case_id: int) -> DecisionCheck:
    """A caseworker confirms an instant decision after review. Audited. Commits.

    Raises ``DecisionNotFound`` or ``InvalidReview`` (not instant, reviewed already).
    """
    case, check = _staff_check(session, user, case_id, "decision.confirm")
    if not check.instant or check.review_outcome is not None:
        raise InvalidReview({"review": _l("This decision has been reviewed already.")})
    check.reviewed_at = utcnow()
    check.reviewed_by_id = user.id
    check.review_outcome = "confirmed"
    audit.record(session, actor=user, action="decision.confirm", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id, details={"outcome": check.outcome,
                                                              "rule_set_version": check.rule_set_version})
    session.commit()
    return check


def overturn(session: Session, user: User, case_id: int, *, to: str, reason: str) -> DecisionCheck:
    """A caseworker overturns an instant decision: the case's decision becomes ``to``
    ("granted" or "refused") with the reason, which the citizen reads. Audited, the
    citizen is notified. Commits.

    Raises ``DecisionNotFound`` or ``InvalidReview``.
    """
    case, check = _staff_check(session, user, case_id, "decision.overturn")
    errors = {}
    reason = (reason or "").strip()
    if not check.instant or check.review_outcome == "overturned":
        errors["overturn_to"] = _l("Only an instant decision that stands can be overturned.")
    elif to not in (GRANTED, REFUSED) or to == check.final_outcome:
        errors["overturn_to"] = _l("Choose the new decision.")
    if not reason:
        errors["overturn_reason"] = _l("Give the reason for the new decision. The citizen reads it.")
    elif len(reason) > 2000:
        errors["overturn_reason"] = _l("The reason can be at most 2000 characters.")
    if errors:
        raise InvalidReview(errors)
    previous = check.final_outcome
    check.reviewed_at = utcnow()
    check.reviewed_by_id = user.id
    check.review_outcome = "overturned"
    check.overturned_to = to
    check.overturn_reason = reason
    case.decided_at = check.reviewed_at
    _event(session, case, EventKind.DECIDED, {"outcome": to, "instant": False, "overturns": previous,
                                              "rule_set_version": check.rule_set_version}, actor=user)
    audit.record(session, actor=user, action="decision.overturn", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id,
                 details={"from": previous, "to": to, "rule_set_version": check.rule_set_version})
    queue_notification(session, key=f"decision-overturned:{case.id}", user=case.request.citizen,
                       kind="status_changed", reference=case.reference, case_id=case.id)
    session.commit()
    return check


def awaiting_review(session: Session, user: User) -> list[tuple[DecisionCheck, Case]]:
    """Instant decisions of the user's authority flagged for review and not reviewed
    yet, oldest first. Audited (``decision.review_list``). Commits."""
    if user is None or user.role not in STAFF_ROLES:
        raise PermissionError("caseworkers only")
    rows = list(session.execute(
        select(DecisionCheck, Case).join(Case, Case.id == DecisionCheck.case_id)
        .where(Case.authority_id == user.authority_id, DecisionCheck.review_flagged.is_(True),
               DecisionCheck.review_outcome.is_(None))
        .order_by(DecisionCheck.checked_at)
    ))
    audit.record(session, actor=user, action="decision.review_list", details={"shown": len(rows)})
    session.commit()
    return rows


# --- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstantShare:
    service_type: str
    decided: int
    instant: int
    shown: bool

    @property
    def share(self) -> float | None:
        return 100.0 * self.instant / self.decided if self.shown and self.decided else None


def instant_shares(session: Session, *, min_count: int) -> list[InstantShare]:
    """Per service type: decided cases, how many were decided at once, and the share;
    services with fewer than ``min_count`` decided cases show no share.

    Decided cases are counted from the statistics' monthly rollup (as of the last
    refresh, like every dashboard figure), not from all cases: the dashboard's cost must
    not grow with the years of history."""
    decided = {service: int(n or 0) for service, n in session.execute(
        select(stats_monthly.c.service_type, func.sum(stats_monthly.c.decided)).group_by(stats_monthly.c.service_type)
    ).all()}
    instant = dict(session.execute(
        select(DecisionCheck.service_type_slug, func.count(DecisionCheck.id))
        .where(DecisionCheck.instant.is_(True)).group_by(DecisionCheck.service_type_slug)
    ).all())
    services = sorted(set(decided) | set(instant) | library().services)
    return [InstantShare(s, decided.get(s, 0), instant.get(s, 0), decided.get(s, 0) >= max(min_count, 1))
            for s in services]
