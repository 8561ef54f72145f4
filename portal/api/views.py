"""The /api/v1 blueprint: cases in and out for authorities' own systems.

Each view checks the token's scope, parses input (bodies are validated against the
OpenAPI schemas), calls one service function (the same ones the caseworker pages
call, with the client's service user as the actor), and answers JSON or a problem.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_babel import force_locale
from sqlalchemy import select

from portal.api import representations as rep
from portal.api.idempotency import idempotent
from portal.api.oauth import current_client, require_scope, token_response
from portal.api.openapi import MAX_ID, SERVICE_MAX_LENGTH, description, validation_errors
from portal.api.problems import ApiProblem
from portal.db import get_session
from portal.models import (
    Authority,
    Case,
    CaseStatus,
    RoutingRecord,
    RuleSet,
    RuleSetStatus,
)
from portal.security import has_nul
from portal.services import api_clients, webhooks
from portal.services import cases as case_services
from portal.services.deadlines import danish_today

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.record_once
def _setup(state) -> None:
    """What the API needs from the app: its OAuth server, no CSRF (token auth, no
    cookies), and problem answers for ``ApiProblem``."""
    from portal.api import oauth
    from portal.extensions import csrf

    app = state.app
    oauth.init_app(app)
    csrf.exempt(bp)
    app.register_error_handler(ApiProblem, lambda exc: exc.response())
    app.config.setdefault("API_MAX_BODY_BYTES", 1024 * 1024)


@bp.before_request
def _limit_input() -> None:
    # API bodies are small JSON documents: refuse big ones early (413 problem).
    request.max_content_length = current_app.config["API_MAX_BODY_BYTES"]
    # PostgreSQL text cannot hold NUL; refuse it in the path and query at the door.
    form = request.mimetype == "application/x-www-form-urlencoded" and has_nul(request.form)
    if "\x00" in request.path or has_nul(request.args) or form:
        raise ApiProblem(400, "The request contains a NUL character.", slug="bad-parameter", title="Bad parameter")


# --- helpers ------------------------------------------------------------------------


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value) -> bool:
    """Does any string (key or value) anywhere in the parsed JSON ``value`` hold a lone
    surrogate? Walks without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _json_body(schema: str) -> dict:
    """The request's JSON object, valid against ``schema``, else a 400/415/422 problem."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiProblem(415, "Send the request body as application/json.")
    try:
        body = json.loads(request.get_data(cache=True) or b"")
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise ApiProblem(400, "The request body is not valid JSON.", slug="malformed-json", title="Malformed JSON")
    if _has_lone_surrogate(body):
        # "\ud800" is valid JSON but no text: it cannot be stored (or encoded as UTF-8).
        raise ApiProblem(400, "The request body holds a lone surrogate (\\ud800-\\udfff), which is not text.",
                         slug="malformed-json", title="Malformed JSON")
    errors = validation_errors(schema, body)
    if errors:
        raise ApiProblem(422, "The request body is not valid: see errors.", slug="validation",
                         title="Validation failed", errors=errors)
    return body


def _bad_parameter(name: str, message: str) -> ApiProblem:
    return ApiProblem(400, f"Query parameter {name!r}: {message}", slug="bad-parameter",
                      title="Bad parameter", errors=[{"field": name, "message": message}])


def _date_param(name: str) -> date | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad_parameter(name, "give a date as YYYY-MM-DD.")


def _datetime_param(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.upper())  # RFC 3339 allows "t" and "z"
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad_parameter(name, "give an ISO 8601 date-time, e.g. 2026-11-25T08:00:00Z.")
    return value


def _int_param(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_parameter(name, f"give a whole number from {low} to {high}.")
    if not low <= value <= high:
        raise _bad_parameter(name, f"give a whole number from {low} to {high}.")
    return value


def _check_id(value: int, what: str = "case") -> None:
    # Larger ids cannot exist (and would overflow PostgreSQL's integer).
    if value > MAX_ID:
        raise _not_found(what)


def _require_case(case_id: int, action: str) -> None:
    """Answer 404 (with a committed ``denied`` audit row, as the case services do) for
    another authority's case before looking at the body, so a bad body cannot tell
    such a case from a missing one. The service checks the scope again."""
    from portal.models import AuditOutcome

    _check_id(case_id)
    session = get_session()
    client = current_client()
    case = session.get(Case, case_id)
    if case is None or case.authority_id != client.authority_id:
        api_clients.audit_call(session, client, action, outcome=AuditOutcome.DENY,
                               case_id=case.id if case else None,
                               subject_id=case.request.citizen_id if case else None,
                               details={"asked_for": case_id})
        session.commit()
        raise _not_found()


def _not_found(what: str = "case") -> ApiProblem:
    return ApiProblem(404, f"There is no such {what} for this client.", slug="not-found", title="Not found")


def _english(errors: dict) -> list[dict]:
    with force_locale("en"):
        return [{"field": field, "message": str(message)} for field, message in errors.items()]


def _call(action, *args, **kwargs):
    """Run a case service function, turning its errors into problems."""
    try:
        return action(*args, **kwargs)
    except case_services.CaseNotFound:
        raise _not_found()
    except case_services.StaleCase:
        raise ApiProblem(409, "The case changed since the version you sent: read it again.",
                         slug="stale-case", title="Case changed")
    except case_services.CaseAnonymised:
        raise ApiProblem(409, "The case's request has been anonymised under the retention rules: "
                         "no new messages can be written on it.", slug="case-anonymised", title="Case anonymised")
    except case_services.InvalidChange as exc:
        raise ApiProblem(422, "The change is not allowed: see errors.", slug="invalid-change",
                         title="Change not allowed", errors=_english(exc.errors))


# --- OAuth and the description -------------------------------------------------------


@bp.post("/oauth/token")
def token():
    return token_response()


@bp.get("/openapi.json")
def openapi():
    return jsonify(description(url_for("api.cases_list", _external=False).removesuffix("/cases")))


# --- cases --------------------------------------------------------------------------


def _encode_cursor(last_id: int) -> str:
    # The id of the last case shown: cases are listed by id, so "after this id" is a
    # stable position even while cases are added or change.
    return str(last_id)


def _decode_cursor(raw: str) -> int:
    if not raw.isdigit() or not raw.isascii() or len(raw) > 10:
        raise _bad_parameter("cursor", "use the next_cursor of a previous page, unchanged.")
    return min(int(raw), MAX_ID)


@bp.get("/cases")
@require_scope("cases:read")
def cases_list():
    """The authority's cases, oldest first by id (a stable order for cursors)."""
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in CaseStatus}:
        raise _bad_parameter("status", "one of " + ", ".join(s.value for s in CaseStatus) + ".")
    since = _datetime_param("updated_since")
    limit = _int_param("limit", 50, 1, 200)
    after = _decode_cursor(request.args["cursor"]) if "cursor" in request.args else 0
    service = request.args.get("service")
    if service is not None and len(service) > SERVICE_MAX_LENGTH:
        raise _bad_parameter("service", f"a service id of at most {SERVICE_MAX_LENGTH} characters.")
    page = api_clients.list_cases(get_session(), current_client(), status=CaseStatus(status) if status else None,
                                  service=service, updated_since=since, after=after,
                                  limit=limit)
    items = [rep.case_summary(c, page.updated.get(c.id)) for c in page.cases]
    return jsonify(items=items, next_cursor=_encode_cursor(page.cases[-1].id) if page.more else None)


@bp.get("/cases/<id:case_id>")
@require_scope("cases:read")
def case_detail(case_id: int):
    _check_id(case_id)
    # A system reading the case has not read the citizen's replies for the caseworkers.
    view = _call(case_services.view_case, get_session(), current_client().user, case_id, mark_read=False)
    return jsonify(rep.case_detail(view.case, view.events, view.handovers, view.messages))


@bp.get("/cases/<id:case_id>/routing")
@require_scope("cases:read")
def case_routing(case_id: int):
    _check_id(case_id)
    view = _call(case_services.view_case, get_session(), current_client().user, case_id, mark_read=False)
    record = get_session().scalar(select(RoutingRecord).where(RoutingRecord.request_id == view.case.request_id))
    return jsonify(rep.routing(view.case, record, "en"))


def _case_summary_after_change(case: Case):
    return jsonify(rep.case_summary(case))


@bp.post("/cases/<id:case_id>/accept")
@require_scope("cases:write")
@idempotent
def case_accept(case_id: int):
    _require_case(case_id, "case.accept")
    body = _json_body("Accept") if request.get_data(cache=True) else {}
    case = _call(case_services.accept_case, get_session(), current_client().user, case_id,
                 expected_version=body.get("expected_version"))
    return _case_summary_after_change(case)


@bp.post("/cases/<id:case_id>/reject")
@require_scope("cases:write")
@idempotent
def case_reject(case_id: int):
    _require_case(case_id, "case.reject")
    body = _json_body("Reject")
    handover = _call(case_services.reject_case, get_session(), current_client().user, case_id,
                     reason=body["reason"], to_authority_id=body["to_authority_id"],
                     expected_version=body.get("expected_version"))
    return jsonify(handover=rep.handover(handover))


@bp.post("/cases/<id:case_id>/status")
@require_scope("cases:write")
@idempotent
def case_status(case_id: int):
    _require_case(case_id, "case.status")
    body = _json_body("StatusChange")
    case = _call(case_services.change_status, get_session(), current_client().user, case_id,
                 to=body["status"], expected_version=body.get("expected_version"))
    return _case_summary_after_change(case)


@bp.post("/cases/<id:case_id>/messages")
@require_scope("cases:write")
@idempotent
def case_message(case_id: int):
    _require_case(case_id, "case.message")
    body = _json_body("NewMessage")
    key = request.headers.get("Idempotency-Key")
    message = _call(case_services.send_message, get_session(), current_client().user, case_id, body=body["body"],
                    idempotency_key=_message_key(key) if key else None)
    return jsonify(rep.message(message)), 201


def _message_key(key: str) -> str:
    """The message's own idempotency key: unique per client, as the column is global."""
    import hashlib

    return hashlib.sha256(f"api:{current_client().id}:{key}".encode()).hexdigest()


@bp.post("/cases/<id:case_id>/decision")
@require_scope("cases:write")
@idempotent
def case_decision(case_id: int):
    """The case is decided, and the citizen gets the outcome as a message (one commit)."""
    _require_case(case_id, "case.decide")
    body = _json_body("Decision")
    case = _call(case_services.record_decision, get_session(), current_client().user, case_id,
                 outcome=body["outcome"], expected_version=body.get("expected_version"))
    return _case_summary_after_change(case)


# --- registry and rule sets -----------------------------------------------------------


@bp.get("/authorities")
@require_scope("registry:read")
def authorities_list():
    from portal.services.registry import authorities_on, region_of

    session = get_session()
    day = _date_param("on") or danish_today()
    items = []
    for a in authorities_on(session, day):
        region = region_of(session, a.id, day) if a.kind.value == "municipality" else None
        items.append(rep.authority(a, region.id if region else None))
    api_clients.record_call(session, current_client(), "registry.list", on=day.isoformat())
    return jsonify(on=day.isoformat(), items=items)


@bp.get("/authorities/<authority_id>")
@require_scope("registry:read")
def authority_detail(authority_id: str):
    from portal.services.registry import region_of

    session = get_session()
    day = _date_param("on") or danish_today()
    authority = session.get(Authority, authority_id) if len(authority_id) <= 64 else None
    if authority is None:
        raise _not_found("authority")
    region = region_of(session, authority.id, day) if authority.kind.value == "municipality" else None
    api_clients.record_call(session, current_client(), "registry.view", authority_id=authority.id)
    return jsonify(rep.authority(authority, region.id if region else None))


def _published_rule_sets():
    return select(RuleSet).where(RuleSet.status.in_([RuleSetStatus.PUBLISHED, RuleSetStatus.SUPERSEDED]))


def _shipped_default(with_source: bool = False) -> dict:
    """The rule set shipped with Indgang: it routes any date no published version covers."""
    from portal.services.routing import default_rule_set, default_source

    loaded = default_rule_set()
    body = {"version": loaded.version, "status": "default",
            "valid_from": loaded.rule_set.valid_from.isoformat(),
            "valid_to": loaded.rule_set.valid_to.isoformat() if loaded.rule_set.valid_to else None,
            "published_at": None, "note": loaded.rule_set.description or None}
    if with_source:
        body["source"] = default_source()[0]
    return body


@bp.get("/rule-sets")
@require_scope("registry:read")
def rule_sets_list():
    session = get_session()
    rows = list(session.scalars(_published_rule_sets().order_by(RuleSet.version)))
    items = [rep.rule_set(r) for r in rows]
    default = _shipped_default()
    if default["version"] not in {r.version for r in rows}:
        items.insert(0, default)
    api_clients.record_call(session, current_client(), "rule_set.list", shown=len(items))
    return jsonify(items=items)


@bp.get("/rule-sets/<id:version>")
@require_scope("registry:read")
def rule_set_detail(version: int):
    _check_id(version, "published rule set")
    session = get_session()
    row = session.scalar(_published_rule_sets().where(RuleSet.version == version))
    if row is not None:
        body = rep.rule_set(row, with_source=True)
    elif version == _shipped_default()["version"]:
        body = _shipped_default(with_source=True)
    else:
        raise _not_found("published rule set")
    api_clients.record_call(session, current_client(), "rule_set.view", version=version)
    return jsonify(body)


# --- webhooks -----------------------------------------------------------------------


def _production() -> bool:
    return current_app.config.get("INDGANG_ENV") == "production"


def _subscription(webhook_id: int):
    _check_id(webhook_id, "webhook subscription")
    try:
        return webhooks.subscription_of(get_session(), current_client().authority_id, webhook_id)
    except webhooks.SubscriptionNotFound:
        raise _not_found("webhook subscription")


@bp.get("/webhooks")
@require_scope("webhooks:manage")
def webhooks_list():
    session = get_session()
    rows = webhooks.subscriptions_of(session, current_client().authority_id)
    api_clients.record_call(session, current_client(), "webhook.list")
    return jsonify(items=[rep.subscription(s) for s in rows])


@bp.post("/webhooks")
@require_scope("webhooks:manage")
@idempotent
def webhooks_create():
    body = _json_body("NewWebhook")
    session = get_session()
    client = current_client()
    try:
        row = webhooks.subscribe(session, actor=client.user, authority_id=client.authority_id, url=body["url"],
                                 events=body["events"], production=_production(),
                                 created_by_client_id=client.id, audit_details={"api_client": client.client_id})
    except webhooks.WebhookError as exc:
        session.rollback()
        raise ApiProblem(422, "The subscription is not valid: see errors.", slug="validation",
                         title="Validation failed",
                         errors=[{"field": k, "message": v} for k, v in exc.errors.items()])
    response = jsonify(rep.subscription(row, secret=True))
    response.status_code = 201
    response.headers["Location"] = url_for("api.webhook_detail", webhook_id=row.id)
    return response


@bp.get("/webhooks/<id:webhook_id>")
@require_scope("webhooks:manage")
def webhook_detail(webhook_id: int):
    row = _subscription(webhook_id)
    api_clients.record_call(get_session(), current_client(), "webhook.view", subscription_id=row.id)
    return jsonify(rep.subscription(row))


@bp.delete("/webhooks/<id:webhook_id>")
@require_scope("webhooks:manage")
def webhook_delete(webhook_id: int):
    row = _subscription(webhook_id)
    client = current_client()
    webhooks.unsubscribe(get_session(), row, actor=client.user, audit_details={"api_client": client.client_id})
    return "", 204


@bp.get("/webhooks/<id:webhook_id>/deliveries")
@require_scope("webhooks:manage")
def webhook_deliveries(webhook_id: int):
    row = _subscription(webhook_id)
    limit = _int_param("limit", 50, 1, 200)
    rows = webhooks.deliveries_of(get_session(), row, limit)
    api_clients.record_call(get_session(), current_client(), "webhook.deliveries", subscription_id=row.id)
    return jsonify(items=[rep.delivery(d) for d in rows])


@bp.post("/webhooks/<id:webhook_id>/deliveries/<id:delivery_id>/replay")
@require_scope("webhooks:manage")
@idempotent
def webhook_replay(webhook_id: int, delivery_id: int):
    row = _subscription(webhook_id)
    _check_id(delivery_id, "delivery")
    client = current_client()
    try:
        again = webhooks.replay(get_session(), row, delivery_id, actor=client.user,
                                audit_details={"api_client": client.client_id})
    except webhooks.DeliveryNotFound:
        raise _not_found("delivery")
    return jsonify(rep.delivery(again)), 202

