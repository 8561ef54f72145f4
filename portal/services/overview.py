"""The citizen's overview: every request and case across authorities, case timelines
written for the citizen, and replies to caseworkers' messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.models import (
    Authority,
    Case,
    CaseEvent,
    EventKind,
    Message,
    Request,
    RequestStatus,
    User,
)
from portal.models.base import utcnow
from portal.services import audit
from portal.services.catalogue import Question, ServiceDefinition
from portal.services.deadlines import danish_today
from portal.services.filing import RoutingPreview, check_answer, definition_of, preview_routing
from portal.services.notifications import queue_notification


class CaseNotFound(LookupError):
    """No such case for this citizen (same answer whether it exists or not)."""


@dataclass
class CaseSummary:
    case: Case
    authority_name: str
    status_text: str
    next_step: str
    unread: int = 0


@dataclass
class RequestSummary:
    request: Request
    definition: ServiceDefinition
    status_text: str
    next_step: str
    expected_on: date | None
    cases: list[CaseSummary] = field(default_factory=list)
    preview: RoutingPreview | None = None  # where it goes and why (the record once routed)

    @property
    def in_progress(self) -> bool:
        """True while the worker has yet to route the request (the page polls)."""
        return self.request.status == RequestStatus.FILED


def citizen_requests(session: Session, citizen: User, locale: str) -> list[RequestSummary]:
    """Every request of ``citizen`` (drafts too), newest first, with its cases."""
    requests = session.scalars(
        select(Request).where(Request.citizen_id == citizen.id).order_by(Request.created_at.desc(), Request.id.desc())
    ).all()
    return _summaries(session, citizen, requests, locale)


def request_summary(session: Session, citizen: User, request: Request, locale: str) -> RequestSummary:
    """One of the citizen's requests with its cases; raises ``CaseNotFound`` for
    another citizen's."""
    if request.citizen_id != citizen.id:
        raise CaseNotFound(request.id)
    return _summaries(session, citizen, [request], locale)[0]


def _summaries(session: Session, citizen: User, requests, locale: str) -> list[RequestSummary]:
    ids = [r.id for r in requests]
    cases_by_request: dict[int, list[Case]] = {}
    unread: dict[int, int] = {}
    if ids:
        for case in session.scalars(select(Case).where(Case.request_id.in_(ids)).order_by(Case.assignment_index)):
            cases_by_request.setdefault(case.request_id, []).append(case)
        case_ids = [c.id for cs in cases_by_request.values() for c in cs]
        if case_ids:
            for message in session.scalars(
                select(Message).where(Message.case_id.in_(case_ids), Message.to_citizen.is_(True),
                                      Message.read_at.is_(None))
            ):
                unread[message.case_id] = unread.get(message.case_id, 0) + 1
    summaries = []
    for request in requests:
        definition = definition_of(session, request)
        preview = None
        if request.status != RequestStatus.DRAFT:
            preview = preview_routing(session, request, citizen)
        cases = []
        for case in cases_by_request.get(request.id, []):
            status = case.status.value
            cases.append(
                CaseSummary(
                    case=case,
                    authority_name=case.authority.name(locale),
                    status_text=definition.status_text(status, locale),
                    next_step=definition.next_step(status, locale),
                    unread=unread.get(case.id, 0),
                )
            )
        status = request.status.value
        summaries.append(
            RequestSummary(
                request=request,
                definition=definition,
                status_text=definition.status_text(status, locale),
                next_step=definition.next_step(status, locale),
                expected_on=preview.expected_on if preview else None,
                cases=cases,
                preview=preview,
            )
        )
    return summaries


def citizen_case(session: Session, citizen: User, case_id: int) -> Case:
    """The citizen's own case; raises ``CaseNotFound`` for anyone else's."""
    case = session.get(Case, case_id)
    if case is None or case.request.citizen_id != citizen.id:
        raise CaseNotFound(case_id)
    return case


@dataclass
class TimelineItem:
    at: datetime
    text: str
    kind: str  # "event", "message-in" (from the authority), "message-out" (the citizen's)
    body: str | None = None


def _event_text(event: CaseEvent, names: dict[str, str]) -> str | None:
    data = event.data or {}
    authority = names.get(event.authority_id or "", "")
    kind = event.kind
    if kind == EventKind.OPENED:
        return _("Your request was sent to %(authority)s.", authority=names.get(data.get("authority_id", ""), authority))
    if kind == EventKind.ACCEPTED:
        return _("%(authority)s has taken your case.", authority=authority)
    if kind == EventKind.HANDOVER_SENT:
        return _("Your case was passed on to %(authority)s, which handles it.",
                 authority=names.get(data.get("to", ""), data.get("to", "")))
    if kind == EventKind.HANDOVER_ACCEPTED:
        return _("%(authority)s has taken over your case.", authority=authority)
    if kind == EventKind.STATUS_CHANGED:
        return _("The status of your case changed.")
    if kind in (EventKind.DEADLINE_SET, EventKind.DEADLINE_EXTENDED) and data.get("target_due"):
        due = date.fromisoformat(data["target_due"])
        if kind == EventKind.DEADLINE_EXTENDED:
            return _("The expected answer date was moved to %(date)s.", date=format_date(due, "long"))
        return _("Expected answer by %(date)s.", date=format_date(due, "long"))
    if kind == EventKind.DEADLINE_SUSPENDED:
        return _("The deadline is paused while the authority waits for information.")
    if kind == EventKind.DECIDED:
        return _("A decision has been made in your case.")
    if kind == EventKind.CLOSED:
        return _("Your case was closed.")
    return None


def case_timeline(session: Session, case: Case, locale: str) -> list[TimelineItem]:
    """What happened on the case that the citizen may see, oldest first: events made
    for citizens and the messages between them and the authority (never internal notes),
    authorities named in ``locale``."""
    names = {a.id: a.name(locale) for a in session.scalars(select(Authority))}
    items: list[TimelineItem] = []
    for event in session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.visible_to_citizen.is_(True))
    ):
        if event.kind == EventKind.MESSAGE:
            continue  # the message itself is shown below
        text = _event_text(event, names)
        if text:
            items.append(TimelineItem(event.at, text, "event"))
    messages = list(session.scalars(select(Message).where(Message.case_id == case.id)))
    # A message is from the authority its writer works at: after a handover, the
    # earlier messages stay the first authority's. Notices the system sends (no
    # writer) are the case's authority's.
    writers = {m.sender_id for m in messages if m.sender_id is not None}
    works_at = dict(session.execute(select(User.id, User.authority_id).where(User.id.in_(writers))).all()) if writers else {}
    for message in messages:
        if message.to_citizen:
            authority_id = works_at.get(message.sender_id) or case.authority_id
            items.append(TimelineItem(message.created_at, _("Message from %(authority)s",
                                                            authority=names.get(authority_id, authority_id)),
                                      "message-in", message.body))
        else:
            items.append(TimelineItem(message.created_at, _("Your reply"), "message-out", message.body))
    items.sort(key=lambda i: i.at)
    return items


REPLY_QUESTION = Question(id="body", type="textarea", label={"da": "Svar", "en": "Reply"}, max_length=4000)


def reply_to_case(session: Session, citizen: User, case: Case, body: str | None, idempotency_key: str | None) -> dict[str, str]:
    """The citizen's reply to the authority on their case; returns errors (empty = sent).

    The reply is checked like free text in a request (no CPR numbers); the same
    idempotency key twice sends one message. A closed case may still get a reply
    (a question about the decision), but not once retention has anonymised its
    request: the text would be kept for good. Commits.
    """
    from portal.services.cases import CaseAnonymised, refuse_if_anonymised

    if case.request.citizen_id != citizen.id:
        raise CaseNotFound(case.id)
    try:
        refuse_if_anonymised(session, case.request_id)
    except CaseAnonymised as refused:
        return {field: str(message) for field, message in refused.errors.items()}
    value, error = check_answer(REPLY_QUESTION, body, danish_today())
    if error:
        return {"body": error}
    if not idempotency_key or len(idempotency_key) > 64:
        return {"body": _("The form had expired. Write your reply again.")}
    if session.scalar(select(Message.id).where(Message.idempotency_key == idempotency_key)):
        return {}
    now = utcnow()
    # Replying means the citizen has read what the authority wrote.
    for unread in session.scalars(
        select(Message).where(Message.case_id == case.id, Message.to_citizen.is_(True), Message.read_at.is_(None))
    ):
        unread.read_at = now
    message = Message(case_id=case.id, sender_id=citizen.id, to_citizen=False, body=value,
                      idempotency_key=idempotency_key, created_at=now)
    session.add(message)
    session.flush()
    session.add(CaseEvent(case_id=case.id, kind=EventKind.MESSAGE, actor_id=citizen.id, visible_to_citizen=True,
                          data={"message_id": message.id, "to_citizen": False}))
    audit.record(session, actor=citizen, action="case.citizen_reply", case_id=case.id,
                 request_id=case.request_id, subject_id=citizen.id, details={"message_id": message.id})
    from portal.services.cases import staff_to_tell

    for person in staff_to_tell(session, case):
        queue_notification(session, key=f"citizen-reply:{message.id}:{person.id}", user=person,
                           kind="citizen_replied", reference=case.reference, case_id=case.id, new_cause=True)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
    return {}
