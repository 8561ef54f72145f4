"""How did it go? Three short, optional questions after a case is decided or closed.

``invite`` is called in the transaction that decides or closes a case: one invitation
per case (unique), shown on the citizen's overview and sent as a notification. The
answer is stored in ``SurveyResponse`` with the authority, the service type and the
day only: no case, citizen or caseworker id and no free text, so it cannot be traced to
a person. The invitation is marked answered in the same transaction with a guarded
update, so a double submit stores one answer.

Figures per authority and service type follow the statistics' minimum-count rule: a
group with fewer than ``STATS_MIN_COUNT`` answers shows no figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import case as sql_case
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.models import Authority, Case, SurveyInvitation, SurveyResponse, User
from portal.models.base import utcnow
from portal.services import audit
from portal.services.deadlines import danish_today
from portal.services.notifications import queue_notification

SATISFACTION_VALUES = ("1", "2", "3", "4", "5")
YES_NO = {"yes": True, "no": False}


class SurveyNotFound(LookupError):
    """No open survey on that case for this citizen (same answer whether it exists)."""


class SurveyInvalid(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("invalid: " + ", ".join(errors))
        self.errors = errors


def invite(session: Session, case: Case) -> SurveyInvitation | None:
    """Ask the citizen how ``case`` went, once per case, in the caller's transaction
    (the caller commits). Returns None when the case was asked about already."""
    found = session.scalar(select(SurveyInvitation).where(SurveyInvitation.case_id == case.id))
    if found is not None:
        return None
    request = case.request
    invitation = SurveyInvitation(case_id=case.id, citizen_id=request.citizen_id, authority_id=case.authority_id,
                                  service_type_slug=request.service_type_slug)
    session.add(invitation)
    session.flush()
    queue_notification(session, key=f"survey:{case.id}", user=request.citizen, kind="survey",
                       reference=case.reference, case_id=case.id)
    return invitation


def open_invitations(session: Session, citizen: User) -> list[tuple[SurveyInvitation, Case]]:
    """The citizen's unanswered invitations, newest first."""
    return list(session.execute(
        select(SurveyInvitation, Case).join(Case, Case.id == SurveyInvitation.case_id)
        .where(SurveyInvitation.citizen_id == citizen.id, SurveyInvitation.answered_at.is_(None))
        .order_by(SurveyInvitation.invited_at.desc(), SurveyInvitation.id.desc())
    ))


def invitation_for(session: Session, citizen: User, case_id: int) -> tuple[SurveyInvitation, Case]:
    """The citizen's own invitation for ``case_id``; raises ``SurveyNotFound``."""
    row = session.execute(
        select(SurveyInvitation, Case).join(Case, Case.id == SurveyInvitation.case_id)
        .where(SurveyInvitation.case_id == case_id, SurveyInvitation.citizen_id == citizen.id)
    ).first()
    if row is None:
        raise SurveyNotFound(case_id)
    return row


@dataclass(frozen=True)
class Answers:
    satisfaction: int | None
    repeated_information: bool | None
    clear_who_handled: bool | None


def parse_answers(form) -> Answers:
    """The three optional answers from a form; raises ``SurveyInvalid`` for a value
    that is not one of the choices, or when nothing at all is answered."""
    errors = {}
    raw = (form.get("satisfaction") or "").strip()
    if raw and raw not in SATISFACTION_VALUES:
        errors["satisfaction"] = _l("Choose a number from 1 to 5.")
    values = {}
    for name in ("repeated_information", "clear_who_handled"):
        value = (form.get(name) or "").strip()
        if value and value not in YES_NO:
            errors[name] = _l("Choose yes or no.")
        values[name] = YES_NO.get(value)
    if not errors and not raw and all(v is None for v in values.values()):
        errors["satisfaction"] = _l("Answer at least one question, or choose not to answer.")
    if errors:
        raise SurveyInvalid(errors)
    return Answers(int(raw) if raw else None, values["repeated_information"], values["clear_who_handled"])


def answer(session: Session, citizen: User, case_id: int, form, today: date | None = None) -> bool:
    """Store the citizen's answers for ``case_id``. Commits.

    Returns False when the invitation was answered (or declined) already: nothing new
    is stored. Raises ``SurveyNotFound`` or ``SurveyInvalid``.
    """
    invitation, case = invitation_for(session, citizen, case_id)
    answers = parse_answers(form)
    return _close(session, citizen, invitation, case, answers, today)


def decline(session: Session, citizen: User, case_id: int) -> bool:
    """The citizen chooses not to answer; the prompt goes away. Commits."""
    invitation, case = invitation_for(session, citizen, case_id)
    return _close(session, citizen, invitation, case, None, None)


def _close(session: Session, citizen: User, invitation: SurveyInvitation, case: Case,
           answers: Answers | None, today: date | None) -> bool:
    # The guarded update is the lock: of two concurrent submits, one changes the row.
    changed = session.execute(
        update(SurveyInvitation).where(SurveyInvitation.id == invitation.id, SurveyInvitation.answered_at.is_(None))
        .values(answered_at=utcnow(), declined=answers is None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        session.rollback()
        return False
    if answers is not None:
        session.add(SurveyResponse(authority_id=invitation.authority_id,
                                   service_type_slug=invitation.service_type_slug,
                                   answered_on=today or danish_today(), satisfaction=answers.satisfaction,
                                   repeated_information=answers.repeated_information,
                                   clear_who_handled=answers.clear_who_handled))
    # The audit row says that the citizen answered, never what.
    audit.record(session, actor=citizen, action="survey.declined" if answers is None else "survey.answered",
                 case_id=case.id, subject_id=citizen.id)
    session.commit()
    session.refresh(invitation)
    return True


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SatisfactionRow:
    authority_id: str
    authority_name: str
    service_type: str
    answers: int
    shown: bool
    satisfaction: float | None  # mean of 1..5
    repeated_share: float | None  # percent who had to repeat information
    clear_share: float | None  # percent for whom it was clear who handled the case


def figures(session: Session, *, min_count: int, locale: str = "da", since: date | None = None) -> list[SatisfactionRow]:
    """Answers per authority and service type. A group with fewer than ``min_count``
    answers shows its row but no count and no figures; so does a figure based on fewer
    than ``min_count`` answers to that question."""
    min_count = max(int(min_count), 1)
    r = SurveyResponse
    stmt = (
        select(r.authority_id, r.service_type_slug, func.count(r.id),
               func.count(r.satisfaction), func.avg(r.satisfaction),
               func.count(r.repeated_information),
               func.sum(sql_case((r.repeated_information.is_(True), 1), else_=0)),
               func.count(r.clear_who_handled),
               func.sum(sql_case((r.clear_who_handled.is_(True), 1), else_=0)))
        .group_by(r.authority_id, r.service_type_slug)
    )
    if since is not None:
        stmt = stmt.where(r.answered_on >= since)
    names = {a.id: a.name(locale) for a in session.scalars(select(Authority))}
    rows = []
    for authority_id, service, total, n_sat, avg_sat, n_rep, yes_rep, n_clear, yes_clear in session.execute(stmt):
        shown = total >= min_count
        rows.append(SatisfactionRow(
            authority_id=authority_id, authority_name=names.get(authority_id, authority_id), service_type=service,
            answers=total if shown else 0, shown=shown,
            satisfaction=round(float(avg_sat), 1) if shown and n_sat >= min_count else None,
            repeated_share=round(100.0 * (yes_rep or 0) / n_rep) if shown and n_rep >= min_count else None,
            clear_share=round(100.0 * (yes_clear or 0) / n_clear) if shown and n_clear >= min_count else None,
        ))
    return sorted(rows, key=lambda row: (row.authority_name, row.service_type))
