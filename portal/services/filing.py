"""Filing a request: drafts, answers step by step, the routing preview, and filing.

Answers are checked against the service type's questions on every step; a step is
saved only when all its answers are valid, so a draft never holds a bad answer. Free
text with a CPR number is refused (CPR numbers are never stored in free text). Filing
commits the request, its audit row and the outbox row for the routing job in one
transaction; no Redis call happens here.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.models import Request, RequestStatus, RoutingRecord, ServiceType, User
from portal.models.base import utcnow
from portal.numbers import INT_MAX, parse_int
from portal.services import audit, outbox
from portal.services.catalogue import (
    Question,
    ServiceDefinition,
    Step,
    get_service,
    remember_version,
    text_in,
)
from portal.services.deadlines import add_days
from portal.services.deadlines import danish_today as _danish_today
from routing.decision import RoutingDecision
from routing.facts import RequestFacts

DANISH_TIME = ZoneInfo("Europe/Copenhagen")

# DDMMYY-SSSS (dash, space or nothing between) where DDMMYY is a real date. Digits
# inside a longer number (an account number, say) do not count.
_CPR = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{2})[-\s]?(\d{4})(?!\d)")
_DATE_SEPARATORS = re.compile(r"[\s./-]+")


class RequestNotFound(LookupError):
    """No such request for this citizen (the same answer whether it exists or not)."""


class FilingRefused(ValueError):
    """Filing was refused; ``errors`` maps a field (or ``"form"``) to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def danish_today() -> date:
    """Today's date in Denmark: filing dates and deadlines are Danish dates."""
    return _danish_today()


# --- checking answers ----------------------------------------------------------------


def contains_cpr(text: str) -> bool:
    """True if ``text`` holds something shaped like a CPR number (DDMMYY-SSSS).

    Ten digits count when the first six are a real date, with or without the dash;
    the checksum is not used (valid CPR numbers may fail modulus 11).
    """
    for match in _CPR.finditer(text or ""):
        day, month, year = (int(g) for g in match.groups()[:3])
        try:
            date(2000 + year, month, day)
        except ValueError:
            continue
        return True
    return False


def parse_date(value: str) -> date | None:
    """A date typed as "27 3 2026", "27-3-2026", "27.03.2026" or "2026-03-27"."""
    value = (value or "").strip()
    if not value:
        return None
    parts = _DATE_SEPARATORS.split(value)
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    if len(parts[0]) == 4:
        year, month, day = parts
    else:
        day, month, year = parts
    if len(year) != 4:
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_answer(question: Question, raw, today: date) -> tuple[object, str | None]:
    """Check one answer; returns (normalised value or None, error message or None).

    Values are stored as routing reads them: yes/no as a boolean, a number as an int,
    a date as an ISO string, text as text.
    """
    if isinstance(raw, bool):  # a stored answer read back
        raw = "yes" if raw else "no"
    elif isinstance(raw, int):
        raw = str(raw)
    value = (raw or "").strip()
    if question.type in ("text", "textarea"):
        value = (raw or "").replace("\r\n", "\n").strip()
    if not value:
        if not question.required:
            return None, None
        if question.required_error:
            from flask_babel import get_locale

            return None, text_in(question.required_error, str(get_locale() or "da"))
        if question.type in ("choice", "yesno"):
            return None, _("Select an answer")
        if question.type == "date":
            return None, _("Enter a date, for example 27 3 2026")
        if question.type == "number":
            return None, _("Enter a number")
        return None, _("Enter your answer")
    if question.type in ("text", "textarea"):
        if question.max_length and len(value) > question.max_length:
            return None, _("Use %(max)s characters or fewer", max=question.max_length)
        if contains_cpr(value):
            return None, _(
                "Remove the CPR number. We never store CPR numbers in free text: "
                "the authority knows who you are from your login."
            )
        return value, None
    if question.type == "yesno":
        if value not in ("yes", "no"):
            return None, _("Select an answer")
        return value == "yes", None
    if question.type == "choice":
        if value not in {o.value for o in question.options}:
            return None, _("Select one of the options")
        return value, None
    if question.type == "number":
        # ASCII digits only ("٣" is not 3 here), and no more than fit a stored answer:
        # a 5,000-digit answer is refused, not handed to int().
        number = parse_int(value.replace(".", "").replace(" ", ""), low=-INT_MAX, signed=True)
        low, high = question.min, question.max
        if number is None:
            if low is not None and high is not None and re.fullmatch(r"-?[0-9]+", value.replace(".", "").replace(" ", "")):
                return None, _("Enter a number between %(min)s and %(max)s", min=int(low), max=int(high))
            return None, _("Enter a whole number, like 12")
        if (low is not None and number < low) or (high is not None and number > high):
            if low is not None and high is not None:
                return None, _("Enter a number between %(min)s and %(max)s", min=int(low), max=int(high))
            if low is not None:
                return None, _("Enter a number of at least %(min)s", min=int(low))
            return None, _("Enter a number of at most %(max)s", max=int(high))
        return number, None
    if question.type == "date":
        day = parse_date(value)
        if day is None:
            return None, _("Enter a real date, for example 27 3 2026")
        if question.not_future and day > today:
            return None, _("The date must be today or in the past")
        if question.not_past and day < today:
            return None, _("The date must be today or in the future")
        age = _age_on(day, today)
        if (question.min_age is not None and age < question.min_age) or (
            question.max_age is not None and age > question.max_age
        ):
            return None, _(
                "The age must be between %(min)s and %(max)s years",
                min=question.min_age if question.min_age is not None else 0,
                max=question.max_age if question.max_age is not None else 150,
            )
        return day.isoformat(), None
    return None, _("Enter your answer")


def check_step(
    step: Step, form, today: date, *, allow_empty: bool = False
) -> tuple[dict[str, str | None], dict[str, str]]:
    """Check every answer on a step; returns (values, errors) keyed by question id.

    With ``allow_empty`` (saving a draft for later) an empty answer is no error and
    is left out of the values; a wrong one still is.
    """
    values, errors = {}, {}
    for question in step.questions:
        if allow_empty and not (form.get(question.id) or "").strip():
            continue
        value, error = check_answer(question, form.get(question.id), today)
        if error:
            errors[question.id] = error
        else:
            values[question.id] = value
    return values, errors


def incomplete_steps(definition: ServiceDefinition, answers: dict, today: date) -> list[Step]:
    """The steps whose saved answers are missing or no longer valid, in order."""
    result = []
    for step in definition.steps:
        _values, errors = check_step(step, answers, today)
        if errors:
            result.append(step)
    return result


# --- drafts ---------------------------------------------------------------------------


def start_draft(session: Session, citizen: User, slug: str, *, locale: str = "da") -> Request:
    """Open a draft request of service type ``slug`` for ``citizen``. Commits.

    Raises ``RequestNotFound`` for a slug that is not in the catalogue today.
    """
    definition = get_service(session, slug, day=danish_today())
    if definition is None:
        raise RequestNotFound(slug)
    request = Request(
        citizen_id=citizen.id,
        service_type_slug=definition.slug,
        service_type_version=definition.version,
        status=RequestStatus.DRAFT,
        answers={},
        municipality_code=citizen.municipality_code,
        locale=locale,
    )
    session.add(request)
    session.flush()
    audit.record(session, actor=citizen, action="request.draft_started", request_id=request.id,
                 subject_id=citizen.id, details={"service_type": slug})
    session.commit()
    return request


# The statements of every filing are built once: building one and its cache key costs
# more CPU than running it (about 100 us each on the benchmark machine).
_REQUEST_WITH_DEFINITION = (
    select(Request, ServiceType.definition)
    .outerjoin(ServiceType, and_(ServiceType.slug == Request.service_type_slug,
                                 ServiceType.version == Request.service_type_version))
    .where(Request.id == bindparam("request_id"))
)
# Of two submits racing, exactly one finds the draft. The columns to set come with the
# parameters (a key that belongs to another request breaks the unique index).
_FILE_DRAFT = update(Request.__table__).where(
    Request.__table__.c.id == bindparam("request_id"), Request.__table__.c.status == RequestStatus.DRAFT
)


def own_request(session: Session, citizen: User, request_id: int) -> Request:
    """The citizen's own request; raises ``RequestNotFound`` for anyone else's.

    Its service definition comes in the same query (``definition_of`` then needs none).
    """
    found = session.execute(_REQUEST_WITH_DEFINITION, {"request_id": request_id}).first()
    if found is None or found[0].citizen_id != citizen.id:
        raise RequestNotFound(request_id)
    request, stored = found
    remember_version(session, request.service_type_slug, request.service_type_version, stored)
    return request


def definition_of(session: Session, request: Request) -> ServiceDefinition:
    """The service definition version the request was started with."""
    definition = get_service(session, request.service_type_slug, version=request.service_type_version)
    if definition is None:  # the catalogue lost a version: fall back to today's
        definition = get_service(session, request.service_type_slug)
    return definition


def save_step(
    session: Session,
    citizen: User,
    request: Request,
    step_id: str,
    form,
    *,
    posted_service_type: str | None,
    for_later: bool = False,
) -> dict[str, str]:
    """Check and save the answers of one step of a draft; returns errors (empty = saved).

    ``for_later`` (save and come back later) accepts unanswered questions. Nothing is
    saved when any answer is invalid, when the request is no longer a draft, or when
    the form names another service type than the draft (a tampered form). Commits
    when saved.
    """
    if request.status != RequestStatus.DRAFT:
        return {"form": _("This request has already been sent and can no longer be changed.")}
    if posted_service_type != request.service_type_slug:
        return {"form": _("The form did not match your request. Nothing was saved; please try again.")}
    definition = definition_of(session, request)
    step = definition.step(step_id)
    if step is None:
        raise RequestNotFound(step_id)
    values, errors = check_step(step, form, danish_today(), allow_empty=for_later)
    if errors:
        return errors
    answers = dict(request.answers or {})
    for key, value in values.items():
        if value is None:
            answers.pop(key, None)
        else:
            answers[key] = value
    request.answers = answers
    request.updated_at = utcnow()
    session.commit()
    return {}


def discard_draft(session: Session, citizen: User, request: Request) -> list[str]:
    """Delete a draft and its attachments' rows. Commits. Returns the attachments'
    stored names: the caller removes the files (``attachments.remove_files``)."""
    from portal.services.attachments import delete_rows

    if request.status != RequestStatus.DRAFT:
        raise FilingRefused({"form": _("Only drafts can be deleted.")})
    stored = delete_rows(session, list(request.attachments))
    audit.record(session, actor=citizen, action="request.draft_discarded", subject_id=citizen.id,
                 details={"request_id": request.id})
    session.delete(request)
    session.commit()
    return stored


def delete_stale_drafts(session: Session, retention_days: int, upload_dir: Path,
                        now: datetime | None = None) -> int:
    """Delete drafts never filed and untouched for ``retention_days`` (no answer saved,
    no file added since): their rows, their attachments' rows, then their files in
    ``upload_dir`` once the commit succeeded (a missing file is no error). A draft
    was never sent to anyone, so nothing of it is kept for statistics. One
    ``retention.draft_deleted`` audit row each, as ``request.draft_discarded`` when
    the citizen deletes one. Commits. Returns how many drafts were deleted.
    """
    from portal.models import Attachment
    from portal.services.attachments import delete_rows, remove_files

    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    recent_upload = exists().where(Attachment.request_id == Request.id, Attachment.uploaded_at >= cutoff)
    # Locked (PostgreSQL): a draft filed or saved meanwhile is re-checked, and passed over.
    drafts = list(session.scalars(
        select(Request).where(Request.status == RequestStatus.DRAFT, Request.updated_at < cutoff, ~recent_upload)
        .order_by(Request.id).with_for_update(of=Request, skip_locked=True)
    ))
    files: list[str] = []
    for request in drafts:
        files += delete_rows(session, list(session.scalars(select(Attachment).where(Attachment.request_id == request.id))))
        audit.record(session, actor=None, action="retention.draft_deleted", subject_id=request.citizen_id,
                     details={"request_id": request.id, "service_type": request.service_type_slug})
        session.delete(request)
    session.commit()
    remove_files(upload_dir, files)
    return len(drafts)


# --- routing preview ------------------------------------------------------------------


def routing_facts(request: Request, citizen: User, day: date) -> RequestFacts:
    """The facts the routing engine will see when the request is filed on ``day``:
    the same as the worker's (``portal.services.routing.facts_for``), with the
    municipality from the citizen's current login."""
    from portal.services.routing import facts_for

    facts = facts_for(request, citizen)
    return dataclasses.replace(
        facts, filed_on=day, municipality_code=str(citizen.municipality_code or request.municipality_code or "")
    )


@dataclass
class RoutingPreview:
    """Where a request goes and why, and when to expect an answer."""

    decision: RoutingDecision | None
    expected_on: date | None
    is_record: bool = False  # True when read from the worker's decision, not computed
    assignments: list = field(default_factory=list)

    def explanation(self, locale: str) -> str:
        return self.decision.explanation.citizen_text(locale) if self.decision else ""

    @property
    def deciding_authority_id(self) -> str:
        return self.decision.deciding.authority_id if self.decision else ""


def preview_routing(session: Session, request: Request, citizen: User, *, day: date | None = None) -> RoutingPreview:
    """The routing decision for ``request``: the worker's record once it exists, else
    a preview computed now (routing is pure and fast). The expected answer date counts
    the deciding authority's service target from the filing day (working days skip
    weekends and Danish holidays); without a route, the catalogue's own target."""
    day = request.filed_on or day or danish_today()
    decision, is_record = None, False
    # Only the worker routes, and only filed requests: a draft has no record to read.
    record = None
    if request.status != RequestStatus.DRAFT:
        record = session.scalar(select(RoutingRecord).where(RoutingRecord.request_id == request.id))
    if record is not None:
        try:
            decision, is_record = RoutingDecision.from_dict(record.decision), True
        except (KeyError, TypeError, ValueError):
            decision = None
    if decision is None and request.status != RequestStatus.UNROUTABLE:
        from portal.services.routing import rule_set_in_force

        try:
            decision = rule_set_in_force(session, day).compiled.route(routing_facts(request, citizen, day))
        except LookupError:  # NoRoute, UnknownMunicipality: a coordinator routes by hand
            decision = None
    if decision is not None:
        deciding = decision.deciding
        expected = add_days(day, deciding.target_days, deciding.day_kind)
    else:
        definition = definition_of(session, request)
        expected = add_days(day, definition.target_days, definition.target_day_kind)
    return RoutingPreview(decision, expected, is_record, list(decision.assignments) if decision else [])


# --- filing ---------------------------------------------------------------------------


def reference_for(request: Request) -> str:
    """The citizen-facing reference, like IG-2026-000123."""
    return f"IG-{request.filed_on.year}-{request.id:06d}"


def _form_expired() -> FilingRefused:
    return FilingRefused({"form": _("The form had expired. Check your answers and send again.")})


def file_request(
    session: Session,
    citizen: User,
    request: Request,
    *,
    idempotency_key: str,
    confirmed_authority_id: str | None,
    posted_service_type: str | None,
    required_attachments_missing: list[str] | None = None,
) -> Request:
    """File a draft: status FILED, reference, dates, the citizen's municipality from
    the login, an audit row and the routing job's outbox row, in one transaction.

    A second submit with the same idempotency key (or of a request already filed)
    returns the filed request and adds nothing. Raises ``FilingRefused`` when answers
    are missing, the form names another service type, or the authority the citizen
    confirmed is not where the request goes. Commits.
    """
    from portal import jobs

    if request.status != RequestStatus.DRAFT:
        return request
    if not idempotency_key or len(idempotency_key) > 64:
        raise _form_expired()
    if posted_service_type != request.service_type_slug:
        raise FilingRefused({"form": _("The form did not match your request. Nothing was sent; please try again.")})
    definition = definition_of(session, request)
    today = danish_today()
    missing = incomplete_steps(definition, request.answers or {}, today)
    errors = {step.id: _("Answer this question: %(question)s", question=step.heading(request.locale))
              for step in missing}
    for kind in required_attachments_missing or []:
        errors[f"attachment-{kind}"] = _("Add the required attachment")
    if not citizen.municipality_code:
        errors["form"] = _("We do not know which municipality you live in, so we cannot send your request. Contact your municipality.")
    if errors:
        raise FilingRefused(errors)
    preview = preview_routing(session, request, citizen, day=today)
    if (confirmed_authority_id or "") != preview.deciding_authority_id:
        raise FilingRefused({"form": _("Where your request goes has changed. Check your answers again and send.")})

    now = utcnow()
    filed = {
        "status": RequestStatus.FILED,
        "filed_at": now,
        "filed_on": today,
        "updated_at": now,
        "municipality_code": citizen.municipality_code,
        "idempotency_key": idempotency_key,
        "reference": f"IG-{today.year}-{request.id:06d}",
    }
    try:
        # A conditional update of the draft's row (the object is brought up to date below).
        result = session.execute(_FILE_DRAFT, {"request_id": request.id, **filed})
        if result.rowcount != 1:
            session.rollback()
            session.refresh(request)
            return request
        # Both rows are inserted at once, with no ORM objects: the commit has nothing to flush.
        audit.insert(
            session, actor=citizen, action="request.filed", request_id=request.id, subject_id=citizen.id,
            details={"service_type": request.service_type_slug, "version": request.service_type_version},
        )
        outbox.insert_job(session, jobs.route_request, request_id=request.id)
        session.commit()
    except IntegrityError:
        # The idempotency key belongs to another request: nothing was filed.
        session.rollback()
        raise _form_expired() from None
    # The row now holds exactly these values: no need to read it back.
    for key, value in filed.items():
        set_committed_value(request, key, value)
    return request


def display_answer(question: Question, value: str | None, locale: str) -> str:
    """An answer as the citizen reads it back on "check your answers"."""
    from flask_babel import format_date

    if value is None or value == "":
        return _("Not answered")
    if question.type == "number":
        return str(value)
    if question.type == "yesno":
        return _("Yes") if value in (True, "yes") else _("No")
    if question.type == "choice":
        return question.option_text(value, locale)
    if question.type == "date":
        return format_date(date.fromisoformat(value), "long")
    return value


def readable_answers(session: Session, request: Request, locale: str, *,
                     keep_unknown: bool = False) -> list[tuple[str, str]]:
    """(question, answer) pairs of a request as the citizen gave them, in the order of
    the questions of its service-type version (for receipts and caseworker pages).
    ``keep_unknown`` adds, by id, answers to questions the version does not ask, so a
    caseworker sees everything stored."""
    definition = definition_of(session, request)
    answers = request.answers or {}
    readable = [(q.text(locale), display_answer(q, answers.get(q.id), locale)) for q in definition.questions()]
    if keep_unknown:
        asked = {q.id for q in definition.questions()}
        readable += [(key, value) for key, value in answers.items() if key not in asked]
    return readable


def given_answers(session: Session, request: Request, locale: str) -> list[tuple[str, str]]:
    """Only the answers the citizen gave, as ``readable_answers`` words them; an answer
    to a question its service no longer asks keeps its id (for the data export)."""
    answers = dict(request.answers or {})
    given = [(q.text(locale), display_answer(q, answers.pop(q.id), locale))
             for q in definition_of(session, request).questions() if q.id in answers]
    return given + list(answers.items())
