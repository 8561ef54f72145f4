"""A citizen's own data: who has seen it, and everything we hold (GDPR Art. 15).

Both read the audit log and the case tables for one citizen only; the export itself
is audited.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    AuditEntry,
    AuditOutcome,
    Authority,
    Case,
    CaseEvent,
    Handover,
    Message,
    Request,
    Role,
    User,
)
from portal.services import audit

STAFF_ROLE_VALUES = [r.value for r in Role if r.is_staff]


def access_log(session: Session, citizen: User) -> list[dict]:
    """Each time staff of an authority looked at or changed the citizen's data, newest
    first: {at, authority_id, authority_da, authority_en, action, case_reference}."""
    rows = session.execute(
        select(AuditEntry, Case.reference)
        .outerjoin(Case, Case.id == AuditEntry.case_id)
        .where(AuditEntry.subject_id == citizen.id, AuditEntry.outcome == AuditOutcome.ALLOW,
               AuditEntry.actor_role.in_(STAFF_ROLE_VALUES))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    ).all()
    names = {a.id: a for a in session.scalars(select(Authority))}
    log = []
    for entry, reference in rows:
        authority = names.get(entry.actor_authority_id)
        log.append({
            "at": entry.at.isoformat(),
            "authority_id": entry.actor_authority_id,
            "authority_da": authority.name_da if authority else entry.actor_authority_id,
            "authority_en": authority.name_en if authority else entry.actor_authority_id,
            "action": entry.action,
            "case_reference": reference,
        })
    return log


def export_data(session: Session, citizen: User) -> dict:
    """Everything held about the citizen: profile, requests, cases with their events,
    handovers and messages, and the access log. Writes a ``privacy.export`` audit row
    and commits."""
    requests = list(session.scalars(select(Request).where(Request.citizen_id == citizen.id).order_by(Request.id)))
    out_requests = []
    for request in requests:
        cases = list(session.scalars(select(Case).where(Case.request_id == request.id).order_by(Case.assignment_index)))
        out_cases = []
        for case in cases:
            events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                             CaseEvent.visible_to_citizen.is_(True))
                                     .order_by(CaseEvent.at, CaseEvent.id))
            handovers = session.scalars(select(Handover).where(Handover.case_id == case.id).order_by(Handover.sent_at))
            messages = session.scalars(select(Message).where(Message.case_id == case.id, Message.to_citizen.is_(True))
                                       .order_by(Message.created_at))
            out_cases.append({
                "reference": case.reference,
                "authority_id": case.authority_id,
                "status": case.status.value,
                "opened_at": case.opened_at.isoformat(),
                "expected_by": case.target_due.isoformat() if case.target_due else None,
                "legal_limit": case.limit_due.isoformat() if case.limit_due else None,
                "decided_at": case.decided_at.isoformat() if case.decided_at else None,
                "closed_at": case.closed_at.isoformat() if case.closed_at else None,
                "events": [{"kind": e.kind, "at": e.at.isoformat(), "authority_id": e.authority_id,
                            "data": {k: v for k, v in (e.data or {}).items() if k != "key"}} for e in events],
                "handovers": [{"from": h.from_authority_id, "to": h.to_authority_id, "reason": h.reason,
                               "sent_at": h.sent_at.isoformat(),
                               "accepted_at": h.accepted_at.isoformat() if h.accepted_at else None}
                              for h in handovers],
                "messages": [{"at": m.created_at.isoformat(), "body": m.body} for m in messages],
            })
        out_requests.append({
            "reference": request.reference,
            "service_type": request.service_type_slug,
            "status": request.status.value,
            "filed_at": request.filed_at.isoformat() if request.filed_at else None,
            "municipality_code": request.municipality_code,
            "answers": request.answers,
            "cases": out_cases,
        })
    data = {
        "person": {"name": citizen.name, "email": citizen.email, "municipality_code": citizen.municipality_code,
                   "language": citizen.locale, "notify_by_email": citizen.notify_by_email},
        "requests": out_requests,
        "access_log": access_log(session, citizen),
    }
    audit.record(session, actor=citizen, action="privacy.export", subject_id=citizen.id)
    session.commit()
    return data
