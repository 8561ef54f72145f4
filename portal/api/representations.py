"""How the API shows models as JSON. Each function matches a schema in openapi.py."""

from __future__ import annotations

from datetime import date, datetime

from portal.models import (
    ApiClient,
    Authority,
    Case,
    CaseEvent,
    Handover,
    Message,
    RoutingRecord,
    RuleSet,
    WebhookDelivery,
    WebhookSubscription,
)


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _d(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def case_summary(case: Case, updated_at: datetime | None = None) -> dict:
    times = [t for t in (case.opened_at, case.accepted_at, case.decided_at, case.closed_at, updated_at) if t]
    return {
        "id": case.id,
        "reference": case.reference,
        "status": case.status.value,
        "authority_id": case.authority_id,
        "first_authority_id": case.first_authority_id,
        "role": case.role,
        "service": case.request.service_type_slug,
        "request_reference": case.request.reference,
        "rule_id": case.rule_id,
        "rule_set_version": case.rule_set_version,
        "opened_at": _dt(case.opened_at),
        "accepted_at": _dt(case.accepted_at),
        "decided_at": _dt(case.decided_at),
        "closed_at": _dt(case.closed_at),
        "updated_at": _dt(max(times)),
        "target_due": _d(case.target_due),
        "limit_due": _d(case.limit_due),
        "version": case.version,
    }


def case_detail(case: Case, events: list[CaseEvent], handovers: list[Handover],
                messages: list[Message]) -> dict:
    updated = max((e.at for e in events), default=None)
    request = case.request
    return {
        **case_summary(case, updated),
        "request": {
            "reference": request.reference,
            "filed_at": _dt(request.filed_at),
            "locale": request.locale,
            "municipality_code": request.municipality_code,
            "answers": request.answers or {},
        },
        "citizen": {"name": request.citizen.name},
        "events": [event(e) for e in events],
        "handovers": [handover(h) for h in handovers],
        "messages": [message(m) for m in messages],
    }


def event(e: CaseEvent) -> dict:
    return {"kind": e.kind, "at": _dt(e.at), "authority_id": e.authority_id,
            "visible_to_citizen": e.visible_to_citizen, "data": e.data or {}}


def handover(h: Handover) -> dict:
    return {"id": h.id, "case_id": h.case_id, "from_authority_id": h.from_authority_id,
            "to_authority_id": h.to_authority_id, "reason": h.reason, "sent_at": _dt(h.sent_at),
            "accepted_at": _dt(h.accepted_at)}


def message(m: Message) -> dict:
    return {"id": m.id, "case_id": m.case_id, "to_citizen": m.to_citizen, "body": m.body,
            "created_at": _dt(m.created_at), "read_at": _dt(m.read_at)}


def routing(case: Case, record: RoutingRecord | None, locale: str = "en") -> dict:
    decision = record.decision if record else None
    return {
        "case_id": case.id,
        "rule_id": case.rule_id,
        "rule_set_version": record.rule_set_version if record else case.rule_set_version,
        "decided_at": _dt(record.decided_at) if record else None,
        "decision": decision,
        "explanation": _explanation_text(decision, locale),
    }


def _explanation_text(decision: dict | None, locale: str) -> str | None:
    """The staff explanation from the routing engine, when the decision can be read back."""
    if not decision:
        return None
    try:
        from routing.decision import RoutingDecision

        return RoutingDecision.from_dict(decision).staff_text(locale)
    except Exception:  # noqa: BLE001 - an older stored shape: the raw decision still says it
        return None


def authority(a: Authority, region_id: str | None = None) -> dict:
    return {"id": a.id, "kind": a.kind.value, "code": a.code, "name_da": a.name_da, "name_en": a.name_en,
            "valid_from": _d(a.valid_from), "valid_to": _d(a.valid_to), "successor_id": a.successor_id,
            "region_id": region_id}


def rule_set(r: RuleSet, with_source: bool = False) -> dict:
    body = {"version": r.version, "status": r.status.value, "valid_from": _d(r.valid_from),
            "valid_to": _d(r.valid_to), "published_at": _dt(r.published_at), "note": r.note}
    if with_source:
        body["source"] = r.source
    return body


def subscription(s: WebhookSubscription, secret: bool = False) -> dict:
    body = {"id": s.id, "url": s.url, "events": list(s.events), "authority_id": s.authority_id,
            "created_at": _dt(s.created_at)}
    if secret:
        body["secret"] = s.secret
    return body


def delivery(d: WebhookDelivery) -> dict:
    return {"id": d.id, "subscription_id": d.subscription_id, "event_id": d.event_id,
            "event_type": d.event_type, "status": d.status.value, "attempts": d.attempts,
            "last_status_code": d.last_status_code, "last_error": d.last_error,
            "replay_of_id": d.replay_of_id, "created_at": _dt(d.created_at),
            "last_attempt_at": _dt(d.last_attempt_at), "delivered_at": _dt(d.delivered_at),
            "payload": d.payload}


def client(c: ApiClient) -> dict:
    return {"client_id": c.client_id, "authority_id": c.authority_id, "scope": c.scope}
