"""Who the citizen is, on a staff case page: the citizen card.

A caseworker cannot handle home care for an unknown person, so every case page of an
authority that holds one of the citizen's cases shows name, date of birth and age,
registered municipality, e-mail and phone as given, language and contact preference,
and the citizen's other cases *at the same authority only* (never those elsewhere).

Showing it is a view of personal data: each card shown writes a ``citizen.view`` audit
row with the citizen as subject, which "who has seen my data" lists.

(Kept out of ``portal.services.cases`` on purpose: that module is to be split into a
package, and the card is its own use case.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditOutcome, Authority, AuthorityKind, Case, Request, User
from portal.services import audit
from portal.services.deadlines import danish_today

# Answer keys a service's questions use for a phone number the citizen gave.
PHONE_KEYS = ("phone", "telephone", "telefon", "mobile", "phone_number")


class CitizenNotFound(LookupError):
    """The case is missing or not at the user's authority (the same to the caller)."""


@dataclass(frozen=True)
class OtherCase:
    id: int
    reference: str
    status: str
    service_type_slug: str


@dataclass(frozen=True)
class CitizenCard:
    name: str
    birth_date: date | None
    age: int | None
    municipality_code: str | None
    municipality_da: str | None
    municipality_en: str | None
    email: str | None
    phone: str | None
    language: str
    notify_by_email: bool
    other_cases: tuple[OtherCase, ...]

    def municipality(self, locale: str) -> str | None:
        return self.municipality_en if locale == "en" else self.municipality_da


def age_on(birth_date: date | None, today: date) -> int | None:
    """Whole years from ``birth_date`` to ``today`` (a 29 February birthday counts on
    1 March in other years)."""
    if birth_date is None:
        return None
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (1 if before_birthday else 0)


def phone_given(requests: list[Request]) -> str | None:
    """The phone number the citizen gave in their newest request that has one."""
    for request in requests:
        for key in PHONE_KEYS:
            value = (request.answers or {}).get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def citizen_card(session: Session, user: User, case_id: int, *, today: date | None = None) -> CitizenCard:
    """The citizen card for case ``case_id``, read by staff ``user``; writes a
    ``citizen.view`` audit row. Raises ``CitizenNotFound`` (after a committed denied
    row) when the case is not at the user's authority. Commits."""
    case = session.get(Case, case_id)
    if case is None or not user.is_staff or case.authority_id != user.authority_id:
        audit.record(session, actor=user, action="citizen.view", outcome=AuditOutcome.DENY,
                     case_id=case_id if case is not None else None, details={"asked_for": case_id})
        session.commit()
        raise CitizenNotFound(case_id)
    citizen = session.get(User, case.request.citizen_id)
    requests = list(session.scalars(select(Request).where(Request.citizen_id == citizen.id)
                                    .order_by(Request.id.desc())))
    others = session.execute(
        select(Case.id, Case.reference, Case.status, Request.service_type_slug)
        .join(Request, Request.id == Case.request_id)
        .where(Request.citizen_id == citizen.id, Case.authority_id == user.authority_id, Case.id != case.id)
        .order_by(Case.opened_at.desc(), Case.id.desc())
    ).all()
    municipality = None
    if citizen.municipality_code:
        municipality = session.scalar(select(Authority).where(Authority.kind == AuthorityKind.MUNICIPALITY,
                                                              Authority.code == citizen.municipality_code))
    card = CitizenCard(
        name=citizen.name, birth_date=citizen.birth_date, age=age_on(citizen.birth_date, today or danish_today()),
        municipality_code=citizen.municipality_code,
        municipality_da=municipality.name_da if municipality else None,
        municipality_en=municipality.name_en if municipality else None,
        email=citizen.email, phone=phone_given(requests), language=citizen.locale,
        notify_by_email=citizen.notify_by_email,
        other_cases=tuple(OtherCase(id=i, reference=r, status=getattr(s, "value", s), service_type_slug=slug)
                          for i, r, s, slug in others),
    )
    audit.record(session, actor=user, action="citizen.view", case_id=case.id, request_id=case.request_id,
                 subject_id=citizen.id)
    session.commit()
    return card
