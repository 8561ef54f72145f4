"""A citizen's own data: who has seen it, and everything we hold (GDPR Art. 15).

Both read the audit log and the case tables for one citizen only; the export itself
is audited.

``EXPORTED_TABLES`` says where in the export each table holding the citizen's data
appears; a test walks the models and fails for a table that holds citizen data and is
neither exported nor deliberately left out, so a new table cannot be forgotten here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    Attachment,
    AuditEntry,
    AuditOutcome,
    Authority,
    Case,
    CaseEvent,
    CoordinationOffer,
    DecisionCheck,
    Handover,
    Message,
    Notification,
    PlanNotification,
    Request,
    Role,
    RoutingRecord,
    SurveyInvitation,
    User,
)
from portal.services import audit, plans

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
        # Administrators and coordinators without an authority work for the service.
        log.append({
            "at": entry.at.isoformat(),
            "authority_id": entry.actor_authority_id,
            "authority_da": authority.name_da if authority else entry.actor_authority_id or "Indgang",
            "authority_en": authority.name_en if authority else entry.actor_authority_id or "Indgang",
            "action": entry.action,
            "case_reference": reference,
        })
    return log


# Table -> where its rows appear in ``export_data`` ("[]" steps into each list item).
EXPORTED_TABLES = {
    "users": "person",
    "requests": "requests[]",
    "attachments": "requests[].attachments[]",
    "routing_decisions": "requests[].routing",
    "decision_checks": "requests[].decision",
    "cases": "requests[].cases[]",
    "case_events": "requests[].cases[].events[]",
    "handovers": "requests[].cases[].handovers[]",
    "messages": "requests[].cases[].messages[]",
    "survey_invitations": "surveys[]",
    "coordination_offers": "coordination_offers[]",
    "plans": "plans[]",
    "plan_participants": "plans[].participants[]",
    "goals": "plans[].goals[]",
    "actions": "plans[].goals[].actions[]",
    "plan_comments": "plans[].comments[]",
    "plan_changes": "plans[].log[]",
    "notifications": "notifications[]",
    "plan_notifications": "notifications[]",
}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _person(citizen: User) -> dict:
    # Everything the users row holds about the person. No secrets are stored there;
    # the session lives in a signed cookie and Redis and is never exported.
    return {
        "name": citizen.name,
        "email": citizen.email,
        "birth_date": _iso(citizen.birth_date),
        "municipality_code": citizen.municipality_code,
        "language": citizen.locale,
        "notify_by_email": citizen.notify_by_email,
        "login": {"identity_provider": citizen.issuer, "subject": citizen.subject},
        "created_at": _iso(citizen.created_at),
        "last_login_at": _iso(citizen.last_login_at),
    }


def _case(session: Session, case: Case) -> dict:
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                     CaseEvent.visible_to_citizen.is_(True))
                             .order_by(CaseEvent.at, CaseEvent.id))
    handovers = session.scalars(select(Handover).where(Handover.case_id == case.id).order_by(Handover.sent_at))
    # Both ways: what the authority wrote and what the citizen wrote back.
    messages = session.scalars(select(Message).where(Message.case_id == case.id)
                               .order_by(Message.created_at, Message.id))
    return {
        "reference": case.reference,
        "authority_id": case.authority_id,
        "status": case.status.value,
        "opened_at": case.opened_at.isoformat(),
        "accepted_at": _iso(case.accepted_at),
        "expected_by": _iso(case.target_due),
        "legal_limit": _iso(case.limit_due),
        "decided_at": _iso(case.decided_at),
        "closed_at": _iso(case.closed_at),
        "events": [{"kind": e.kind, "at": e.at.isoformat(), "authority_id": e.authority_id,
                    "data": {k: v for k, v in (e.data or {}).items() if k != "key"}} for e in events],
        "handovers": [{"from": h.from_authority_id, "to": h.to_authority_id, "reason": h.reason,
                       "sent_at": h.sent_at.isoformat(), "accepted_at": _iso(h.accepted_at)}
                      for h in handovers],
        "messages": [{"at": m.created_at.isoformat(), "from": "authority" if m.to_citizen else "you",
                      "body": m.body, "read_at": _iso(m.read_at)} for m in messages],
    }


def _decision(check: DecisionCheck | None) -> dict | None:
    if check is None:
        return None
    evaluation = check.evaluation or {}
    return {
        "outcome": check.final_outcome,
        "instant": check.instant,
        "checked_at": check.checked_at.isoformat(),
        "rule_set_version": check.rule_set_version,
        "summary": evaluation.get("summary"),
        "rules": [{"rule_id": r.get("rule_id"), "status": r.get("status"), "reason": r.get("reason")}
                  for r in evaluation.get("results") or []],
        "appeal_to": evaluation.get("appeal_to"),
        "reviewed_at": _iso(check.reviewed_at),
        "review_outcome": check.review_outcome,
        "first_outcome": check.outcome,
        "overturn_reason": check.overturn_reason,
    }


def _request(session: Session, request: Request) -> dict:
    cases = session.scalars(select(Case).where(Case.request_id == request.id).order_by(Case.assignment_index))
    attachments = session.scalars(select(Attachment).where(Attachment.request_id == request.id)
                                  .order_by(Attachment.uploaded_at, Attachment.id))
    routing = session.scalar(select(RoutingRecord).where(RoutingRecord.request_id == request.id))
    check = session.scalar(select(DecisionCheck).where(DecisionCheck.request_id == request.id))
    return {
        "reference": request.reference,
        "draft": request.status.value == "draft",
        "service_type": request.service_type_slug,
        "status": request.status.value,
        "created_at": request.created_at.isoformat(),
        "updated_at": _iso(request.updated_at),
        "filed_at": _iso(request.filed_at),
        "municipality_code": request.municipality_code,
        "language": request.locale,
        "answers": request.answers,
        "attachments": [{"id": a.id, "kind": a.kind, "filename": a.filename, "content_type": a.content_type,
                         "size": a.size, "uploaded_at": a.uploaded_at.isoformat()} for a in attachments],
        "routing": {"decided_at": routing.decided_at.isoformat(), "rule_set_version": routing.rule_set_version,
                    "decision": routing.decision} if routing else None,
        "decision": _decision(check),
        "cases": [_case(session, case) for case in cases],
    }


def _offers(session: Session, citizen: User) -> list[dict]:
    rows = session.execute(
        select(CoordinationOffer, Request.reference)
        .outerjoin(Request, Request.id == CoordinationOffer.request_id)
        .where(CoordinationOffer.citizen_id == citizen.id)
        .order_by(CoordinationOffer.offered_at, CoordinationOffer.id)
    ).all()
    return [{"reason": o.reason, "request_reference": reference, "authority_ids": list(o.authority_ids or []),
             "lead_authority_id": o.lead_authority_id, "status": o.status, "offered_at": o.offered_at.isoformat(),
             "responded_at": _iso(o.responded_at), "meeting_requested_at": _iso(o.meeting_requested_at),
             "plan_id": o.plan_id} for o, reference in rows]


def _surveys(session: Session, citizen: User) -> list[dict]:
    # The answers themselves (SurveyResponse) are stored apart from any person by
    # design and cannot be found again; what we hold about the citizen is the invitation.
    rows = session.execute(
        select(SurveyInvitation, Case.reference)
        .join(Case, Case.id == SurveyInvitation.case_id)
        .where(SurveyInvitation.citizen_id == citizen.id)
        .order_by(SurveyInvitation.invited_at, SurveyInvitation.id)
    ).all()
    return [{"case_reference": reference, "authority_id": s.authority_id, "service_type": s.service_type_slug,
             "invited_at": s.invited_at.isoformat(), "answered_at": _iso(s.answered_at), "declined": s.declined}
            for s, reference in rows]


def _notifications(session: Session, citizen: User) -> list[dict]:
    about_cases = session.scalars(select(Notification).where(Notification.user_id == citizen.id))
    about_plans = session.scalars(select(PlanNotification).where(PlanNotification.user_id == citizen.id))
    out = [{"kind": n.kind, "case_reference": n.reference, "plan_id": None, "channel": n.channel,
            "created_at": n.created_at.isoformat(), "sent_at": _iso(n.sent_at), "status": n.status}
           for n in about_cases]
    out += [{"kind": n.kind, "case_reference": None, "plan_id": n.plan_id, "channel": "email",
             "created_at": n.created_at.isoformat(), "sent_at": _iso(n.sent_at), "status": n.status}
            for n in about_plans]
    return sorted(out, key=lambda n: n["created_at"])


def export_data(session: Session, citizen: User) -> dict:
    """Everything held about the citizen: the person, requests (drafts too) with their
    attachments, routing, decision and cases (events, handovers, messages both ways),
    coordination offers, coordinated plans (closed ones too), survey invitations,
    notifications and the access log. Writes a ``privacy.export`` audit row and
    commits (once: reading the citizen's own plans writes nothing)."""
    requests = session.scalars(select(Request).where(Request.citizen_id == citizen.id).order_by(Request.id))
    data = {
        "person": _person(citizen),
        "requests": [_request(session, request) for request in list(requests)],
        "coordination_offers": _offers(session, citizen),
        "plans": plans.citizen_plans_data(session, citizen),
        "surveys": _surveys(session, citizen),
        "notifications": _notifications(session, citizen),
        "access_log": access_log(session, citizen),
    }
    audit.record(session, actor=citizen, action="privacy.export", subject_id=citizen.id)
    session.commit()
    return data
