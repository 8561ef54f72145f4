"""Cases at authorities: routing a filed request into cases, the caseworker's inbox,
and every change a caseworker makes (accept, reject with a handover, status, assignee,
deadlines, messages).

Each public function is one use case: it checks that the user may act on the case
(a case of another authority is reported exactly like a missing one, with a ``denied``
audit row), makes the change with its append-only ``CaseEvent``, the audit row and any
notification outbox rows, and commits once.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, exists, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from portal import limits
from portal.models import (
    AuditOutcome,
    Authority,
    Case,
    CaseEvent,
    CaseStatus,
    EventKind,
    Handover,
    Message,
    Request,
    RequestStatus,
    Role,
    RoutingRecord,
    User,
)
from portal.models.base import utcnow
from portal.numbers import parse_id, parse_int
from portal.services import audit, webhooks
from portal.services.deadlines import WORKING, add_days, danish_today
from portal.services.notifications import queue_notification

STAFF_ROLES = (Role.CASEWORKER, Role.TEAM_LEAD)
OPEN_STATUSES = (CaseStatus.PENDING, CaseStatus.ACCEPTED, CaseStatus.IN_PROGRESS,
                 CaseStatus.AWAITING_CITIZEN)


# --- errors -------------------------------------------------------------------------


class CaseNotFound(LookupError):
    """No such case for this user: missing, or another authority's (never say which)."""


class InvalidChange(ValueError):
    """The change is not allowed; ``errors`` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("invalid: " + ", ".join(errors))
        self.errors = errors


class StaleCase(RuntimeError):
    """Someone else changed the case since the form was shown (optimistic locking)."""


class CaseAnonymised(InvalidChange):
    """A message on a case whose request retention has anonymised: refused, because
    retention never looks at the request again and the text would be kept for good."""

    def __init__(self):
        super().__init__({"body": _l("The case was closed long ago and its messages have been deleted, "
                                     "so no new messages can be written on it.")})


def refuse_if_anonymised(session: Session, request_id: int) -> None:
    """Raise ``CaseAnonymised`` if the request has been anonymised. Locks the request
    row (PostgreSQL), as retention does, so a message written while retention runs
    is either erased by it or refused here, never kept unseen."""
    anonymised_at = session.scalar(select(Request.anonymised_at).where(Request.id == request_id).with_for_update())
    if anonymised_at is not None:
        raise CaseAnonymised()


# --- the status machine -------------------------------------------------------------

# The default machine; a service type may narrow it in its definition
# ("statuses": {"from": ["to", ...]}). Accepting and rejecting are their own actions.
TRANSITIONS: dict[CaseStatus, tuple[CaseStatus, ...]] = {
    CaseStatus.PENDING: (),
    CaseStatus.ACCEPTED: (CaseStatus.IN_PROGRESS, CaseStatus.AWAITING_CITIZEN, CaseStatus.DECIDED),
    CaseStatus.IN_PROGRESS: (CaseStatus.AWAITING_CITIZEN, CaseStatus.DECIDED),
    CaseStatus.AWAITING_CITIZEN: (CaseStatus.IN_PROGRESS, CaseStatus.DECIDED),
    CaseStatus.DECIDED: (CaseStatus.CLOSED,),
    CaseStatus.CLOSED: (),
}

# What the citizen reads for each status.
CITIZEN_TEXT = {
    CaseStatus.PENDING: _l("Received: waiting for the authority to take the case"),
    CaseStatus.ACCEPTED: _l("The authority has taken your case"),
    CaseStatus.IN_PROGRESS: _l("Your case is being processed"),
    CaseStatus.AWAITING_CITIZEN: _l("The authority is waiting for information from you"),
    CaseStatus.DECIDED: _l("A decision has been made"),
    CaseStatus.CLOSED: _l("Your case is closed"),
}

# What staff read for each status (labels in the inbox and the status select).
STATUS_LABEL = {
    CaseStatus.PENDING: _l("Pending"),
    CaseStatus.ACCEPTED: _l("Accepted"),
    CaseStatus.IN_PROGRESS: _l("In progress"),
    CaseStatus.AWAITING_CITIZEN: _l("Awaiting citizen"),
    CaseStatus.DECIDED: _l("Decided"),
    CaseStatus.CLOSED: _l("Closed"),
}


def allowed_transitions(session: Session, case: Case) -> tuple[CaseStatus, ...]:
    """The statuses ``case`` may move to now, by the default machine or its service type's."""
    from portal.models import ServiceType

    definition = session.scalar(
        select(ServiceType.definition).where(ServiceType.slug == case.request.service_type_slug)
        .order_by(ServiceType.version.desc()).limit(1)
    )
    custom = (definition or {}).get("statuses") if isinstance(definition, dict) else None
    if custom and case.status.value in custom:
        return tuple(CaseStatus(s) for s in custom[case.status.value])
    return TRANSITIONS[case.status]


# --- routing a filed request into cases ---------------------------------------------


def route_request(session: Session, request_id: int) -> list[Case]:
    """Route a filed request, the whole use case in one transaction: record the
    decision, open one case per assignment (deadlines, events, the citizen's notice,
    webhooks), decide at once where the service's decision rules allow, and offer a
    coordinated assessment when the citizen's needs span several authorities.

    Idempotent: a request already routed (or unroutable) is left as it is and its
    cases are returned. An unroutable request gets status UNROUTABLE and an audit
    row, every administrator is told, and it waits for one to route it by hand
    (``route_by_hand``). Commits. Raises ``LookupError`` for a missing id.
    """
    from portal.services import routing

    found = _lock_request(session, request_id)
    if found is None:
        raise LookupError(f"no request {request_id}")
    request = found.request
    if request.status != RequestStatus.FILED:
        existing = list(session.scalars(select(Case).where(Case.request_id == request_id).order_by(Case.assignment_index)))
        session.rollback()
        return existing
    facts = routing.facts_for(request)
    # The lookup above found the rule set in force on the filing day (a request kept
    # from before filing days were stored asks for it by the day its facts give).
    if request.filed_on is not None:
        rule_set = functools.partial(routing.in_force, session, facts.filed_on, found.in_force)
    else:
        rule_set = functools.partial(routing.rule_set_in_force, session, facts.filed_on)
    # The routing area's service decides, records the decision and its audit row, and
    # marks an unroutable request (visible to administrators).
    record = routing.record_decision(session, request, facts, rule_set)
    if record is None:
        for admin in session.scalars(select(User).where(User.role == Role.ADMINISTRATOR)):
            queue_notification(session, key=f"unroutable:{request.id}:{admin.id}", user=admin,
                               kind="request_unroutable", reference=request.reference, new_cause=True)
        session.commit()
        return []
    cases = _open_cases(session, request, routing.stored_decision(record), record.rule_set_version)
    _cases_opened(session, request, cases, found.webhooks_in_use)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = list(session.scalars(select(Case).where(Case.request_id == request_id)))
        if not existing:
            raise  # not a twin routing: the job fails, is retried, and is seen if it keeps failing
        return existing  # another worker routed the same request at the same moment: its cases stand
    return cases


def _open_cases(session: Session, request: Request, decision, number: int, actor: User | None = None) -> list[Case]:
    """Open one case per assignment of ``decision`` (made by rule set ``number``), with
    deadlines, events and the citizen's notice; mark the request routed, with its
    audit row; flush."""
    today = danish_today()
    cases = []
    for index, assignment in enumerate(decision.assignments):
        case = Case(
            reference=_case_reference(request, index),
            request=request,
            assignment_index=index,
            authority_id=assignment.authority_id,
            first_authority_id=assignment.authority_id,
            role=assignment.role,
            rule_id=assignment.rule_id,
            rule_set_version=number,
            status=CaseStatus.PENDING,
        )
        _set_deadlines(case, today, assignment.target_days, assignment.limit_days, assignment.day_kind)
        session.add(case)
        _event(session, case, EventKind.OPENED, actor, {
            "authority_id": assignment.authority_id, "rule_id": assignment.rule_id,
            "rule_set_version": number,
        })
        _event(session, case, EventKind.DEADLINE_SET, actor, _deadline_data(case, assignment.day_kind))
        queue_notification(session, key=f"case-opened:{case.reference}", user=request.citizen,
                           kind="case_opened", reference=case.reference, case=case, new_cause=True)
        cases.append(case)
    request.status = RequestStatus.ROUTED
    audit.record(session, actor=actor, action="request.routed", request_id=request.id,
                 subject_id=request.citizen_id,
                 details={"rule_set_version": decision.rule_set_version,
                          "authorities": [a.authority_id for a in decision.assignments]})
    # One flush writes the decision, the cases and everything that hangs on them.
    session.flush()
    return cases


def _cases_opened(session: Session, request: Request, cases: list[Case], webhooks_in_use: bool) -> None:
    """What follows opening cases: webhooks, instant decisions where the service's
    rules allow, and the offer of a coordinated assessment."""
    from portal.services import coordination, decisions

    for case in cases if webhooks_in_use else ():
        webhooks.emit(session, case.authority_id, "case.created", webhooks.case_data(case))
    decisions.check_routed(session, request, cases)
    coordination.offer_after_routing(session, request, cases)


def _require_router(user: User | None) -> None:
    """Routing by hand, and the requests that wait for it, are for administrators and
    coordinators; raises ``PermissionError`` for anyone else."""
    if user is None or user.role not in (Role.ADMINISTRATOR, Role.COORDINATOR):
        raise PermissionError("administrators and coordinators only")


class AlreadyRouted(RuntimeError):
    """The request is no longer waiting to be routed by hand (someone just did)."""


BY_HAND_RULE_ID = "by-hand"
REASON_LIMIT = 2000


def route_by_hand(session: Session, user: User, request_id: int, *, authority_id: str, reason: str) -> list[Case]:
    """Route a request no rule could route: an administrator or coordinator names the
    authority that decides it and why. The reason becomes the routing's explanation,
    which the citizen reads on the receipt and the overview. The case opens as a rule
    would open it; its service target is the service's published target, which is
    also its limit (no rule gave one), and the authority may extend it with a reason.

    Raises ``PermissionError`` for other users, ``LookupError`` for an unknown request,
    ``AlreadyRouted`` when it no longer waits, ``InvalidChange`` (no reason, unknown or
    expired authority). Commits."""
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from portal.services import filing, routing
    from routing.decision import Assignment, Explanation, RoutingDecision, RuleNote

    _require_router(user)
    found = _lock_request(session, request_id)
    if found is None or found.request.status == RequestStatus.DRAFT:
        raise LookupError(f"no request {request_id}")
    request = found.request
    if request.status != RequestStatus.UNROUTABLE:
        raise AlreadyRouted(request.reference)
    reason = (reason or "").strip()
    errors = {}
    target = session.get(Authority, authority_id) if authority_id else None
    if target is None or not target.valid_on(danish_today()):
        errors["authority"] = _l("Choose the authority that decides the request.")
    if not reason:
        errors["reason"] = _l("Give the reason this authority decides the request.")
    elif len(reason) > REASON_LIMIT:
        errors["reason"] = _l("The reason can be at most %(limit)d characters.", limit=REASON_LIMIT)
    if errors:
        raise InvalidChange(errors)
    definition = filing.definition_of(session, request)  # None: a service the catalogue no longer has
    days, day_kind = (definition.target_days, definition.target_day_kind) if definition else (20, WORKING)
    assignment = Assignment(target.id, target.name_da, target.name_en, "decides", BY_HAND_RULE_ID,
                            days, days, day_kind)
    texts = {}
    for language in ("da", "en"):
        with force_locale(language):
            texts[language] = _("No rule fitted your request, so our staff sent it to %(authority)s. "
                                "The reason: %(reason)s", authority=target.name(language), reason=reason)
    version = found.in_force[1] if found.in_force else routing.default_rule_set().version
    facts = routing.facts_for(request)
    explanation = Explanation(facts.service_type, facts.municipality_code,
                              (RuleNote(BY_HAND_RULE_ID, 0, "matched", reason, reason),), (),
                              texts["da"], texts["en"])
    decision = RoutingDecision(str(version), facts.filed_on, facts, (assignment,), explanation)
    session.add(RoutingRecord(request_id=request.id, rule_set_version=version, decision=decision.to_dict()))
    audit.record(session, actor=user, action="routing.by_hand", request_id=request.id,
                 subject_id=request.citizen_id, details={"authority": target.id})
    cases = _open_cases(session, request, decision, version, actor=user)
    _cases_opened(session, request, cases, webhooks_in_use=True)
    session.commit()
    return cases


@dataclass(frozen=True)
class _Routing:
    """What routing a request needs, read in one round trip (see ``_lock_request``)."""

    request: Request
    in_force: tuple | None  # (id, version, published at) of the published rule set, if any
    webhooks_in_use: bool


def _lock_request(session: Session, request_id: int) -> _Routing | None:
    """The request (locked on PostgreSQL) with its citizen, the published rule set in
    force on its filing day, and whether any webhook subscription exists."""
    row = session.execute(_lock_statement(session.get_bind().dialect.name), {"request_id": request_id}).first()
    if row is None:
        return None
    request, rule_set_id, version, published_at, hooks = row
    return _Routing(request, (rule_set_id, version, published_at) if rule_set_id is not None else None, hooks)


@functools.cache
def _lock_statement(dialect: str):
    """Built once per process: building it costs more than running it."""
    from portal.models import RuleSet as RuleSetRow
    from portal.services.routing import in_force_on

    stmt = (
        select(Request, RuleSetRow.id, RuleSetRow.version, RuleSetRow.published_at, webhooks.in_use())
        .outerjoin(RuleSetRow, RuleSetRow.id == in_force_on(Request.filed_on))
        .where(Request.id == bindparam("request_id"))
        .options(joinedload(Request.citizen))
    )
    return stmt.with_for_update(of=Request) if dialect == "postgresql" else stmt


def _case_reference(request: Request, index: int) -> str:
    base = request.reference or f"R{request.id}"
    return f"{base}-{index + 1}"


def assignment_of(session: Session, case: Case) -> dict:
    """The routing assignment behind ``case`` (days and day kind of its deadlines)."""
    record = session.scalar(select(RoutingRecord).where(RoutingRecord.request_id == case.request_id))
    assignments = (record.decision or {}).get("assignments", []) if record else []
    if case.assignment_index < len(assignments):
        return assignments[case.assignment_index]
    return {"target_days": 20, "limit_days": 40, "day_kind": WORKING}


def _set_deadlines(case: Case, start: date, target_days: int, limit_days: int, day_kind: str) -> None:
    target_days = min(target_days, limit_days)  # target <= limit, always
    case.target_due = add_days(start, target_days, day_kind)
    case.limit_due = add_days(start, limit_days, day_kind)


def _deadline_data(case: Case, day_kind: str, **extra) -> dict:
    return {"target_due": case.target_due.isoformat() if case.target_due else None,
            "limit_due": case.limit_due.isoformat() if case.limit_due else None,
            "day_kind": day_kind, **extra}


def _event(session: Session, case: Case, kind: EventKind, actor: User | None, data: dict,
           visible_to_citizen: bool = True) -> CaseEvent:
    event = CaseEvent(case=case, kind=kind.value, actor_id=actor.id if actor else None,
                      authority_id=case.authority_id, visible_to_citizen=visible_to_citizen, data=data)
    session.add(event)
    return event


# --- reading cases as staff ---------------------------------------------------------


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox shows; unknown values are ignored, not trusted."""

    status: str = ""
    service: str = ""
    assignee: str = ""  # "" | "me" | "none" | user id
    deadline: str = ""  # "" | "overdue" | "soon"
    sort: str = "target_due"  # target_due | opened_at | status | reference
    descending: bool = False
    page: int = 1
    q: str = ""  # part of a case reference or of the citizen's name

    SORTS = ("target_due", "opened_at", "status", "reference")


@dataclass
class InboxPage:
    cases: list[Case]
    total: int
    filters: InboxFilters
    services: list[str] = field(default_factory=list)
    staff: list[User] = field(default_factory=list)
    page_size: int = 50
    # Ids of the cases shown with a reply from the citizen nobody here has opened yet.
    unread_replies: set[int] = field(default_factory=set)


def _require_staff(user: User | None) -> User:
    if user is None or user.role not in STAFF_ROLES or not user.authority_id:
        raise PermissionError("only caseworkers and team leads of an authority handle cases")
    return user


def inbox(session: Session, user: User, filters: InboxFilters) -> InboxPage:
    """The cases of the user's authority, filtered and sorted; writes a ``case.list``
    audit row and commits. Raises ``PermissionError`` for non-staff."""
    _require_staff(user)
    stmt = select(Case).join(Request, Request.id == Case.request_id).where(Case.authority_id == user.authority_id)
    if filters.status in CaseStatus._value2member_map_:
        stmt = stmt.where(Case.status == CaseStatus(filters.status))
    elif not filters.status:
        stmt = stmt.where(Case.status != CaseStatus.CLOSED)
    if filters.service:
        stmt = stmt.where(Request.service_type_slug == filters.service)
    if filters.assignee == "me":
        stmt = stmt.where(Case.assignee_id == user.id)
    elif filters.assignee == "none":
        stmt = stmt.where(Case.assignee_id.is_(None))
    elif parse_id(filters.assignee):
        stmt = stmt.where(Case.assignee_id == parse_id(filters.assignee))
    today = danish_today()
    if filters.deadline == "overdue":
        stmt = stmt.where(Case.target_due < today)
    elif filters.deadline == "soon":
        stmt = stmt.where(Case.target_due >= today, Case.target_due <= add_days(today, 5))
    if filters.q.strip():
        typed = filters.q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{typed}%"
        citizens = select(User.id).where(func.lower(User.name).like(like, escape="\\"))
        stmt = stmt.where(func.lower(Case.reference).like(like, escape="\\") | Request.citizen_id.in_(citizens))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    column = {"target_due": Case.target_due, "opened_at": Case.opened_at, "status": Case.status,
              "reference": Case.reference}.get(filters.sort, Case.target_due)
    # Cases without a target last either way (SQLite would put NULL first).
    order = (column.desc() if filters.descending else column.asc()).nulls_last()
    page_size = 50
    stmt = stmt.order_by(order, Case.id).limit(page_size).offset((max(filters.page, 1) - 1) * page_size)
    cases = list(session.scalars(stmt))
    services = sorted(session.scalars(
        select(Request.service_type_slug).join(Case, Case.request_id == Request.id)
        .where(Case.authority_id == user.authority_id).distinct()
    ))
    staff = caseworkers_of(session, user.authority_id)
    unread = set(session.scalars(
        select(Message.case_id).where(Message.case_id.in_([c.id for c in cases]), Message.to_citizen.is_(False),
                                      Message.read_at.is_(None)).distinct()
    )) if cases else set()
    audit.record(session, actor=user, action="case.list",
                 details={"filters": {k: v for k, v in vars(filters).items() if v}, "shown": len(cases)})
    session.commit()
    return InboxPage(cases=cases, total=total, filters=filters, services=services, staff=staff,
                     unread_replies=unread)


def _case_for(session: Session, user: User, case_id: int, action: str) -> Case:
    """The case if it is at the user's authority, else ``CaseNotFound`` after a committed
    ``denied`` audit row (identical to a missing id for the caller)."""
    _require_staff(user)
    case = session.get(Case, case_id)
    if case is None or case.authority_id != user.authority_id:
        audit.record(session, actor=user, action=action, outcome=AuditOutcome.DENY,
                     case_id=case_id if case is not None else None,
                     subject_id=case.request.citizen_id if case is not None else None,
                     details={"asked_for": case_id})
        session.commit()
        raise CaseNotFound(case_id)
    return case


@dataclass
class CaseView:
    case: Case
    request: Request
    events: list[CaseEvent]
    handovers: list[Handover]
    messages: list[Message]
    transitions: tuple[CaseStatus, ...]
    authorities: list[Authority]
    staff: list[User]
    day_kind: str
    routing: dict | None
    senders: dict[int, User]  # who wrote each message, by ``Message.sender_id``


def view_case(session: Session, user: User, case_id: int, *, mark_read: bool = True) -> CaseView:
    """Everything a caseworker sees on a case page; writes a ``case.view`` audit row.

    With ``mark_read`` (a person opening the case) the citizen's replies count as read,
    so the inbox stops marking the case; the API reads with ``mark_read=False``, as a
    system fetching a case has not shown the replies to anyone. Raises
    ``CaseNotFound`` (with a denied audit row) for another authority's case. Commits.
    """
    case = _case_for(session, user, case_id, "case.view")
    view = _load_view(session, case)
    if mark_read:
        now = utcnow()
        for message in view.messages:
            if not message.to_citizen and message.read_at is None:
                message.read_at = now
    audit.record(session, actor=user, action="case.view", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id)
    session.commit()
    return view


def _load_view(session: Session, case: Case) -> CaseView:
    events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)))
    handovers = list(session.scalars(select(Handover).where(Handover.case_id == case.id).order_by(Handover.sent_at)))
    messages = list(session.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.created_at)))
    today = danish_today()
    authorities = [a for a in session.scalars(select(Authority).order_by(Authority.name_da))
                   if a.valid_on(today) and a.id != case.authority_id]
    staff = caseworkers_of(session, case.authority_id)
    record = session.scalar(select(RoutingRecord).where(RoutingRecord.request_id == case.request_id))
    sender_ids = {m.sender_id for m in messages if m.sender_id is not None}
    senders = {u.id: u for u in session.scalars(select(User).where(User.id.in_(sender_ids)))} if sender_ids else {}
    return CaseView(case=case, request=case.request, events=events, handovers=handovers, messages=messages,
                    transitions=allowed_transitions(session, case), authorities=authorities, staff=staff,
                    day_kind=assignment_of(session, case).get("day_kind", WORKING),
                    routing=record.decision if record else None, senders=senders)


# --- changing cases -----------------------------------------------------------------


def _check_version(case: Case, expected_version: int | None) -> None:
    if expected_version is not None and case.version != expected_version:
        raise StaleCase(case.id)


def _changes_case(use_case):
    """Mark a use case ``(session, user, case_id, ...)`` that changes a case: when the
    case's UPDATE finds that someone else changed it meanwhile (its version moved), the
    transaction is rolled back and ``StaleCase`` raised. That UPDATE may be flushed at
    the commit, by an explicit flush, or by the autoflush of any query before it, so
    the whole body is covered, not just the commit.
    """

    @functools.wraps(use_case)
    def run(session: Session, user: User, case_id: int, *args, **kwargs):
        try:
            return use_case(session, user, case_id, *args, **kwargs)
        except StaleDataError:
            session.rollback()
            raise StaleCase(case_id) from None

    return run


@_changes_case
def accept_case(session: Session, user: User, case_id: int, *, expected_version: int | None = None) -> Case:
    """The user's authority takes a pending case; an open handover to it is accepted,
    and the deadlines restart from today with the assignment's days. Commits.

    Raises ``CaseNotFound``, ``StaleCase``, or ``InvalidChange`` if it is not pending.
    """
    case = _case_for(session, user, case_id, "case.accept")
    _check_version(case, expected_version)
    if case.status != CaseStatus.PENDING:
        raise InvalidChange({"status": _l("Only a pending case can be accepted.")})
    now = utcnow()
    handover = session.scalar(
        select(Handover).where(Handover.case_id == case.id, Handover.to_authority_id == case.authority_id,
                               Handover.accepted_at.is_(None)).order_by(Handover.sent_at.desc()).limit(1)
    )
    if handover is not None:
        handover.accepted_at = now
        handover.accepted_by_id = user.id
        _event(session, case, EventKind.HANDOVER_ACCEPTED, user, {
            "handover_id": handover.id, "from": handover.from_authority_id, "to": handover.to_authority_id})
        assignment = assignment_of(session, case)
        day_kind = assignment.get("day_kind", WORKING)
        _set_deadlines(case, danish_today(now), int(assignment["target_days"]), int(assignment["limit_days"]), day_kind)
        _event(session, case, EventKind.DEADLINE_SET, user, _deadline_data(case, day_kind, reason="handover"))
    case.status = CaseStatus.ACCEPTED
    case.accepted_at = now
    if case.assignee_id is None and not is_service_user(user):
        # A person who accepts takes the case; an API client's service user is no one
        # to hold it (or to tell of news on it), so the case stays with the team.
        case.assignee_id = user.id
    _event(session, case, EventKind.ACCEPTED, user, {})
    audit.record(session, actor=user, action="case.accept", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id,
                 details={"handover_id": handover.id} if handover else {})
    if handover is not None:
        audit.record(session, actor=user, action="handover.accept", case_id=case.id, request_id=case.request_id,
                     subject_id=case.request.citizen_id, details={"handover_id": handover.id})
    session.commit()
    return case


@_changes_case
def reject_case(session: Session, user: User, case_id: int, *, reason: str, to_authority_id: str,
                expected_version: int | None = None) -> Handover:
    """The user's authority refuses the case and hands it to the authority it belongs to.

    Creates a ``Handover``; the case moves to ``to_authority_id`` as PENDING; the
    citizen's request stays open and the citizen is told. Commits. Raises
    ``CaseNotFound``, ``StaleCase``, or ``InvalidChange`` (no reason, unknown or same
    authority, case already decided).
    """
    case = _case_for(session, user, case_id, "case.reject")
    _check_version(case, expected_version)
    errors = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = _l("Give the reason the case does not belong here.")
    elif len(reason) > 2000:
        errors["reason"] = _l("The reason can be at most 2000 characters.")
    target = session.get(Authority, to_authority_id) if to_authority_id else None
    if target is None or not target.valid_on(danish_today()):
        errors["to_authority"] = _l("Choose the authority the case belongs to.")
    elif target.id == case.authority_id:
        errors["to_authority"] = _l("Choose another authority than your own.")
    if case.status not in (CaseStatus.PENDING, CaseStatus.ACCEPTED, CaseStatus.IN_PROGRESS):
        errors["status"] = _l("A decided or closed case cannot be handed over.")
    if errors:
        raise InvalidChange(errors)
    from_id = case.authority_id
    handover = Handover(case_id=case.id, from_authority_id=from_id, to_authority_id=target.id,
                        reason=reason, sent_by_id=user.id)
    session.add(handover)
    session.flush()
    _event(session, case, EventKind.REJECTED, user, {"reason": reason, "to": target.id}, visible_to_citizen=False)
    case.authority_id = target.id
    case.status = CaseStatus.PENDING
    case.assignee_id = None
    case.accepted_at = None
    _event(session, case, EventKind.HANDOVER_SENT, user, {"handover_id": handover.id, "from": from_id, "to": target.id})
    webhooks.emit(session, target.id, "case.handover", webhooks.case_data(
        case, handover_id=handover.id, from_authority_id=from_id, to_authority_id=target.id))
    audit.record(session, actor=user, action="handover.send", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id,
                 details={"handover_id": handover.id, "from": from_id, "to": target.id})
    queue_notification(session, key=f"handover:{handover.id}", user=case.request.citizen, kind="handover",
                       reference=case.reference, case_id=case.id)
    session.commit()
    return handover


@_changes_case
def change_status(session: Session, user: User, case_id: int, *, to: str,
                  expected_version: int | None = None) -> Case:
    """Move the case along the status machine; tells the citizen. Commits.

    Raises ``CaseNotFound``, ``StaleCase``, ``InvalidChange`` for a move the machine
    does not allow.
    """
    case = _case_for(session, user, case_id, "case.status")
    _check_version(case, expected_version)
    try:
        target = CaseStatus(to)
    except ValueError:
        target = None
    if target is None or target not in allowed_transitions(session, case):
        raise InvalidChange({"status": _l("That status change is not allowed.")})
    previous = case.status
    case.status = target
    now = utcnow()
    if target == CaseStatus.DECIDED:
        case.decided_at = now
        _event(session, case, EventKind.DECIDED, user, {"instant": False})
    if target == CaseStatus.CLOSED:
        case.closed_at = now
        _event(session, case, EventKind.CLOSED, user, {})
    _event(session, case, EventKind.STATUS_CHANGED, user, {"from": previous.value, "to": target.value})
    audit.record(session, actor=user, action="case.status", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id, details={"from": previous.value, "to": target.value})
    queue_notification(session, key=f"status:{case.id}:{case.version}:{target.value}", user=case.request.citizen,
                       kind="status_changed", reference=case.reference, case_id=case.id)
    if target in (CaseStatus.DECIDED, CaseStatus.CLOSED):
        from portal.services import surveys

        surveys.invite(session, case)  # "how did it go?", once per case
    if target == CaseStatus.CLOSED:
        _close_request_if_done(session, case)
    session.commit()
    return case


def _close_request_if_done(session: Session, case: Case) -> None:
    # Lock the request first. Without it, the last two cases closed at the same moment
    # each still see the other open, and the request stays open for good. With it,
    # the second waits for the first to commit, then sees its case closed (PostgreSQL
    # reads committed rows per statement; SQLite serialises writers anyway).
    session.execute(select(Request.id).where(Request.id == case.request_id).with_for_update())
    open_left = session.scalar(
        select(func.count()).select_from(Case).where(Case.request_id == case.request_id, Case.id != case.id,
                                                     Case.status != CaseStatus.CLOSED)
    )
    if not open_left:
        case.request.status = RequestStatus.CLOSED


@_changes_case
def assign(session: Session, user: User, case_id: int, *, assignee_id: int | None,
           expected_version: int | None = None) -> Case:
    """Give the case to a caseworker of the same authority (or to nobody). Commits.

    Raises ``CaseNotFound``, ``StaleCase``, ``InvalidChange`` for someone outside it.
    """
    case = _case_for(session, user, case_id, "case.assign")
    _check_version(case, expected_version)
    if assignee_id is not None:
        assignee = session.get(User, assignee_id)
        if assignee is None or assignee not in caseworkers_of(session, case.authority_id):
            raise InvalidChange({"assignee": _l("Choose a caseworker of your authority.")})
    case.assignee_id = assignee_id
    _event(session, case, EventKind.ASSIGNED, user, {"assignee_id": assignee_id}, visible_to_citizen=False)
    audit.record(session, actor=user, action="case.assign", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id, details={"assignee_id": assignee_id})
    session.commit()
    return case


@_changes_case
def change_deadline(session: Session, user: User, case_id: int, *, kind: str, days: int | str, reason: str,
                    expected_version: int | None = None) -> Case:
    """Move the deadlines with a recorded reason. ``kind`` "suspend" moves target and
    limit by ``days``; "extend" moves the target only, never past the legal limit.
    Commits. Raises ``CaseNotFound``, ``StaleCase``, ``InvalidChange``.
    """
    case = _case_for(session, user, case_id, "case.deadline")
    _check_version(case, expected_version)
    errors = {}
    days = days if isinstance(days, int) else parse_int(days, high=365) or 0
    if not 1 <= days <= 365:
        errors["days"] = _l("Give a number of days from 1 to 365.")
    reason = (reason or "").strip()
    if not reason:
        errors["deadline_reason"] = _l("Give the reason for moving the deadline.")
    elif limits.too_long(reason, limits.REASON):
        errors["deadline_reason"] = limits.too_long(reason, limits.REASON)
    if kind not in ("suspend", "extend"):
        errors["kind"] = _l("Choose suspension or extension.")
    if case.status not in OPEN_STATUSES:
        errors["kind"] = _l("The deadlines of a decided case cannot be moved.")
    day_kind = assignment_of(session, case).get("day_kind", WORKING)
    if not errors and kind == "extend":
        new_target = add_days(case.target_due, days, day_kind)
        if case.limit_due and new_target > case.limit_due:
            errors["days"] = _l("The target cannot pass the legal limit; suspend the case instead.")
    if errors:
        raise InvalidChange(errors)
    case.target_due = add_days(case.target_due, days, day_kind)
    if kind == "suspend":
        case.limit_due = add_days(case.limit_due, days, day_kind)
    event_kind = EventKind.DEADLINE_SUSPENDED if kind == "suspend" else EventKind.DEADLINE_EXTENDED
    _event(session, case, event_kind, user, _deadline_data(case, day_kind, days=days, reason=reason))
    audit.record(session, actor=user, action=f"case.deadline.{kind}", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id, details={"days": days})
    session.commit()
    return case


@_changes_case
def send_message(session: Session, user: User, case_id: int, *, body: str, idempotency_key: str | None = None) -> Message:
    """Send a message to the citizen on the case; a repeated ``idempotency_key`` sends
    nothing new and returns the first message. Commits.

    Raises ``CaseNotFound``, ``CaseAnonymised`` (retention has erased the case's
    messages), or ``InvalidChange`` for an empty or too long message.
    """
    case = _case_for(session, user, case_id, "case.message")
    refuse_if_anonymised(session, case.request_id)
    body = (body or "").strip()
    if not body:
        raise InvalidChange({"body": _l("Write the message.")})
    if limits.too_long(body, limits.MESSAGE):
        raise InvalidChange({"body": limits.too_long(body, limits.MESSAGE)})
    key = (idempotency_key or "")[:64] or None
    if key:
        existing = session.scalar(select(Message).where(Message.idempotency_key == key))
        if existing is not None:
            session.rollback()
            return existing
    message = Message(case_id=case.id, sender_id=user.id, to_citizen=True, body=body, idempotency_key=key)
    session.add(message)
    session.flush()
    _event(session, case, EventKind.MESSAGE, user, {"message_id": message.id, "to_citizen": True})
    audit.record(session, actor=user, action="case.message", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id, details={"message_id": message.id})
    queue_notification(session, key=f"message:{message.id}", user=case.request.citizen, kind="message",
                       reference=case.reference, case_id=case.id)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return session.scalar(select(Message).where(Message.idempotency_key == key))
    return message


@_changes_case
def record_decision(session: Session, user: User, case_id: int, *, outcome: str,
                    expected_version: int | None = None) -> Case:
    """Record the authority's decision: the case becomes DECIDED (a ``decided`` event
    carrying the outcome) and the outcome goes to the citizen as a message, in one
    commit. Raises ``CaseNotFound``, ``StaleCase``, or ``InvalidChange`` for an empty
    or too long outcome, or a case that may not be decided now.
    """
    case = _case_for(session, user, case_id, "case.decide")
    _check_version(case, expected_version)
    outcome = (outcome or "").strip()
    if not outcome:
        raise InvalidChange({"outcome": _l("Write the decision.")})
    if len(outcome) > 2000:
        raise InvalidChange({"outcome": _l("The decision can be at most 2000 characters.")})
    if CaseStatus.DECIDED not in allowed_transitions(session, case):
        raise InvalidChange({"status": _l("That status change is not allowed.")})
    previous = case.status
    now = utcnow()
    case.status = CaseStatus.DECIDED
    case.decided_at = now
    message = Message(case_id=case.id, sender_id=user.id, to_citizen=True, body=outcome)
    session.add(message)
    session.flush()
    _event(session, case, EventKind.DECIDED, user, {"instant": False, "message_id": message.id})
    _event(session, case, EventKind.STATUS_CHANGED, user, {"from": previous.value, "to": CaseStatus.DECIDED.value})
    _event(session, case, EventKind.MESSAGE, user, {"message_id": message.id, "to_citizen": True})
    audit.record(session, actor=user, action="case.decide", case_id=case.id, request_id=case.request_id,
                 subject_id=case.request.citizen_id, details={"message_id": message.id, "from": previous.value})
    queue_notification(session, key=f"decision:{case.id}:{message.id}", user=case.request.citizen,
                       kind="message", reference=case.reference, case_id=case.id)
    session.commit()
    return case


# --- administrators -----------------------------------------------------------------


def unroutable_requests(session: Session, user: User) -> list[Request]:
    """Requests no rule could route, oldest first (administrators and coordinators).
    Writes a ``request.list_unroutable`` audit row and commits."""
    _require_router(user)
    rows = list(session.scalars(
        select(Request).where(Request.status == RequestStatus.UNROUTABLE).order_by(Request.filed_at)
    ))
    audit.record(session, actor=user, action="request.list_unroutable", details={"shown": len(rows)})
    session.commit()
    return rows


@dataclass(frozen=True)
class UnroutableView:
    """What an administrator needs to route a request by hand, and nothing more: no
    answers, no name (data minimisation)."""

    request: Request
    service_name: str
    municipality: Authority | None
    why: str  # what the routing said, for staff
    authorities: dict[str, list[Authority]]  # by kind: state, region, municipality


def unroutable_request(session: Session, user: User, request_id: int) -> UnroutableView:
    """One request waiting to be routed by hand. Writes a ``request.view_unroutable``
    audit row with the citizen as subject and commits. Raises ``PermissionError``,
    ``LookupError``, ``AlreadyRouted`` once it no longer waits."""
    from flask_babel import get_locale

    from portal.models import AuditEntry
    from portal.services import filing, registry

    _require_router(user)
    request = session.get(Request, request_id)
    if request is None or request.status == RequestStatus.DRAFT:
        raise LookupError(f"no request {request_id}")
    if request.status != RequestStatus.UNROUTABLE:
        raise AlreadyRouted(request.reference)
    why = session.scalar(select(AuditEntry.details).where(
        AuditEntry.request_id == request.id, AuditEntry.action == "routing.no_route").order_by(AuditEntry.id.desc()))
    authorities: dict[str, list[Authority]] = {"state": [], "region": [], "municipality": []}
    for authority in sorted(registry.authorities_on(session, danish_today()), key=lambda a: a.name_da):
        authorities[authority.kind.value].append(authority)
    municipality = registry.municipality_by_code(session, request.municipality_code)
    definition = filing.definition_of(session, request)
    view = UnroutableView(request, definition.name(str(get_locale())) if definition else request.service_type_slug,
                          municipality, (why or {}).get("error", ""), authorities)
    audit.record(session, actor=user, action="request.view_unroutable", request_id=request.id,
                 subject_id=request.citizen_id)
    session.commit()
    return view


# --- deadlines watch and retention (run by scheduled jobs) --------------------------


def watch_deadlines(session: Session, today: date | None = None, warn_days: int = 3) -> dict[str, int]:
    """Warn, escalate and tell citizens about deadlines; safe to run any number of times.

    For each open case: ``warn_days`` working days or fewer before the target, the
    assignee (else the team leads) is warned; past the target, the team leads get an
    escalation and the citizen is told in writing (a message on the case and an e-mail)
    that the target is missed, with the legal limit as the new expected date. Each
    happens once per target date (unique notification keys). Commits.
    """
    today = today or danish_today()
    if session.get_bind().dialect.name == "postgresql":
        # One watcher at a time: a second concurrent run waits, then finds all done.
        session.execute(text("SELECT pg_advisory_xact_lock(6060601)"))
    counts = {"warned": 0, "escalated": 0, "citizens_told": 0}
    horizon = add_days(today, warn_days)
    cases = list(session.scalars(
        select(Case).where(Case.status.in_(OPEN_STATUSES), Case.target_due.is_not(None), Case.target_due <= horizon)
        .order_by(Case.id)
    ))
    for case in cases:
        target = case.target_due.isoformat()
        leads = team_leads(session, case.authority_id)
        if case.target_due >= today:
            staff = staff_to_tell(session, case, leads)
            if _once(session, case, EventKind.DEADLINE_WARNING, f"deadline-warning:{case.id}:{target}",
                     staff, "deadline_warning", visible_to_citizen=False):
                counts["warned"] += 1
                webhooks.emit(session, case.authority_id, "case.deadline_warning", webhooks.case_data(case))
            continue
        if _once(session, case, EventKind.DEADLINE_BREACHED, f"deadline-breached:{case.id}:{target}",
                 leads, "deadline_breached", visible_to_citizen=False):
            counts["escalated"] += 1
        if _tell_citizen_target_missed(session, case, target):
            counts["citizens_told"] += 1
    session.commit()
    return counts


def is_service_user(user: User) -> bool:
    """Whether ``user`` is the service user an API client acts through (not a person)."""
    from portal.models.api import API_CLIENT_ISSUER

    return user.issuer == API_CLIENT_ISSUER


def caseworkers_of(session: Session, authority_id: str) -> list[User]:
    """The people who may hold the authority's cases: its caseworkers and team leads,
    not the service users of its API clients."""
    from portal.models.api import API_CLIENT_ISSUER

    return list(session.scalars(
        select(User).where(User.authority_id == authority_id, User.role.in_(STAFF_ROLES),
                           User.issuer != API_CLIENT_ISSUER).order_by(User.name)
    ))


def team_leads(session: Session, authority_id: str) -> list[User]:
    return list(session.scalars(select(User).where(User.authority_id == authority_id, User.role == Role.TEAM_LEAD)))


def staff_to_tell(session: Session, case: Case, leads: list[User] | None = None) -> list[User]:
    """Who hears of news on a case: its assignee, else the team leads of its authority.

    The team leads are told instead of an assignee who cannot be told by e-mail (no
    address, or e-mail turned off), such as the service user of an API client that
    accepted the case before such cases stopped being assigned to it.
    """
    assignee = session.get(User, case.assignee_id) if case.assignee_id else None
    if assignee is not None and assignee.email and assignee.notify_by_email and not is_service_user(assignee):
        return [assignee]
    return leads if leads is not None else team_leads(session, case.authority_id)


def _once(session: Session, case: Case, kind: EventKind, key: str, recipients: list[User],
          notification_kind: str, visible_to_citizen: bool) -> bool:
    """Record ``kind`` on the case and notify ``recipients`` once per ``key``."""
    done = session.scalars(select(CaseEvent.data).where(CaseEvent.case_id == case.id, CaseEvent.kind == kind.value))
    if any((data or {}).get("key") == key for data in done):
        return False
    _event(session, case, kind, None, {"key": key, "target_due": case.target_due.isoformat()},
           visible_to_citizen=visible_to_citizen)
    for person in recipients:
        queue_notification(session, key=f"{key}:{person.id}", user=person, kind=notification_kind,
                           reference=case.reference, case_id=case.id)
    return True


def _tell_citizen_target_missed(session: Session, case: Case, target: str) -> bool:
    key = f"target-missed:{case.id}:{target}"
    if session.scalar(select(Message.id).where(Message.idempotency_key == key)) is not None:
        return False
    citizen = case.request.citizen
    from flask_babel import force_locale, format_date
    from flask_babel import gettext as _

    with force_locale(citizen.locale if citizen.locale in ("da", "en") else "da"):
        body = _("We will not reach a decision in your case by the expected date %(target)s. "
                 "We now expect to decide by %(limit)s at the latest.",
                 target=format_date(case.target_due, "long"),
                 limit=format_date(case.limit_due or case.target_due, "long"))
    try:
        with session.begin_nested():
            message = Message(case_id=case.id, sender_id=None, to_citizen=True, body=body, idempotency_key=key)
            session.add(message)
            session.flush()
            _event(session, case, EventKind.MESSAGE, None, {"message_id": message.id, "to_citizen": True,
                                                            "target_missed": True})
            queue_notification(session, key=key, user=citizen, kind="target_missed", reference=case.reference,
                               case_id=case.id)
            audit.record(session, actor=None, action="case.target_missed_notice", case_id=case.id,
                         request_id=case.request_id, subject_id=citizen.id)
    except IntegrityError:
        return False
    return True


# Free text people type into case events, by event kind: retention blanks these keys
# and keeps the rest (kinds, times, authorities, deadlines, days) for the figures.
FREE_TEXT_EVENT_KEYS = {
    EventKind.REJECTED.value: ("reason",),
    EventKind.DEADLINE_SUSPENDED.value: ("reason",),
    EventKind.DEADLINE_EXTENDED.value: ("reason",),
}


def anonymise_closed_cases(session: Session, retention_days: int, upload_dir: Path, now=None) -> int:
    """Anonymise filed requests whose cases all closed more than ``retention_days`` ago.

    Erased: the answers (also where the routing decision keeps them as its facts), a
    reason typed when the request was routed by hand, every attachment (its row with
    the original filename, and then its file in ``upload_dir``), message bodies,
    internal notes, handover reasons, the free text of case events
    (``FREE_TEXT_EVENT_KEYS``) and a reason for overturning an instant decision. Kept: references, statuses, dates,
    authorities and the audit log, for statistics and accountability.

    A request qualifies by its cases, whatever its own status says: a request whose
    last two cases were closed at the same moment may have stayed "routed".

    Case events are append-only by convention, not by a database trigger, so no
    database exception is needed: the event rows and their keys stay, only the
    typed text becomes "". Each request is marked ``anonymised_at`` and gets one
    ``retention.anonymise`` audit row; a second run finds nothing. Commits; files are
    removed only after the commit (a missing file is no error). Returns how many
    requests were anonymised now.
    """
    from datetime import timedelta

    from portal.models import Attachment, DecisionCheck
    from portal.services.attachments import delete_rows, remove_files

    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    open_or_recent = exists().where(
        Case.request_id == Request.id,
        or_(Case.closed_at.is_(None), Case.closed_at > cutoff),
    )
    # Locked (PostgreSQL) like a message writer locks its request: a message written
    # meanwhile is either committed first and erased below, or refused after.
    candidates = list(session.scalars(
        select(Request).where(Request.anonymised_at.is_(None), Request.status != RequestStatus.DRAFT,
                              exists().where(Case.request_id == Request.id), ~open_or_recent)
        .order_by(Request.id).with_for_update(of=Request)
    ))
    files: list[str] = []
    for request in candidates:
        cases = list(session.scalars(select(Case).where(Case.request_id == request.id)))
        case_ids = [c.id for c in cases]
        request.answers = {}
        record = session.scalar(select(RoutingRecord).where(RoutingRecord.request_id == request.id))
        if record is not None:
            record.decision = _anonymised_decision(record.decision)
        for case in cases:
            case.internal_note = None
        for message in session.scalars(select(Message).where(Message.case_id.in_(case_ids), Message.body != "")):
            message.body = ""
        for handover in session.scalars(select(Handover).where(Handover.case_id.in_(case_ids),
                                                               Handover.reason != "")):
            handover.reason = ""
        for event in session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(case_ids),
                                                             CaseEvent.kind.in_(list(FREE_TEXT_EVENT_KEYS)))):
            keys = [k for k in FREE_TEXT_EVENT_KEYS[event.kind] if (event.data or {}).get(k)]
            if keys:
                event.data = {**event.data, **dict.fromkeys(keys, "")}  # a new dict: JSON is not tracked in place
        for check in session.scalars(select(DecisionCheck).where(DecisionCheck.request_id == request.id,
                                                                 DecisionCheck.overturn_reason.is_not(None))):
            check.overturn_reason = ""
        stored = delete_rows(session, list(session.scalars(select(Attachment).where(Attachment.request_id == request.id))))
        files += stored
        request.anonymised_at = now
        audit.record(session, actor=None, action="retention.anonymise", request_id=request.id,
                     subject_id=request.citizen_id, details={"cases": case_ids, "attachments": len(stored)})
    session.commit()
    remove_files(upload_dir, files)
    return len(candidates)


def _anonymised_decision(decision: dict) -> dict:
    """A stored routing decision without the answers it was routed by (the facts keep
    service, municipality and day) and without a reason typed by whoever routed it by
    hand (its place in the citizen's sentence becomes "–")."""
    decision = copy.deepcopy(decision)
    decision["facts"]["attributes"] = {}
    explanation = decision["explanation"]
    for note in explanation.get("matched", ()):
        if note.get("rule_id") != BY_HAND_RULE_ID:
            continue
        for language in ("da", "en"):
            reason = note.get(f"why_{language}") or ""
            if reason:
                explanation[f"citizen_{language}"] = explanation[f"citizen_{language}"].replace(reason, "–")
            note[f"why_{language}"] = ""
    return decision


def is_overdue(case: Case, today: date | None = None) -> bool:
    """True when an open case is past its service target."""
    return bool(case.target_due and case.status in OPEN_STATUSES and case.target_due < (today or danish_today()))


__all__ = [
    "CaseNotFound", "CaseView", "InboxFilters", "InboxPage", "InvalidChange", "StaleCase",
    "accept_case", "allowed_transitions", "anonymise_closed_cases", "assign", "change_deadline",
    "change_status", "inbox", "is_overdue", "reject_case", "route_request", "send_message",
    "unroutable_requests", "view_case", "watch_deadlines",
]
