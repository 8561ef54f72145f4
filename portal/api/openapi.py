"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

Request bodies are validated against the same schemas (``validate_body``), so the
description and the behaviour cannot drift apart; tests check that every route of
the blueprint is described and that responses match.
"""

from __future__ import annotations

from copy import deepcopy

from jsonschema import Draft202012Validator

from portal.models import CaseStatus
from portal.services.webhooks import EVENT_TYPES

MAX_ID = 2**31 - 1
# PostgreSQL text cannot hold NUL: text coming in must not contain it.
TEXT = r"^[^\u0000]*$"
WEBHOOK_URL_PATTERN = r"^(https://[A-Za-z0-9.-]+|http://(127\.0\.0\.1|localhost))(:[0-9]{1,5})?(/[!-~]*)?$"


def _nullable(schema: dict) -> dict:
    kind = schema["type"]
    return {**schema, "type": [kind, "null"]}


STR = {"type": "string"}
# The longest ``?service=`` the case list takes (a service slug); views.py enforces it.
SERVICE_MAX_LENGTH = 64
INT = {"type": "integer"}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}


def _obj(properties: dict, required: list[str] | None = None, additional: bool = False) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": additional}


SCHEMAS: dict[str, dict] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": STR,
            "status": INT,
            "detail": STR,
            "instance": STR,
            "correlation_id": STR,
            "errors": {"type": "array", "items": _obj({"field": STR, "message": STR})},
            "required_scope": STR,
            "error": STR,
            "error_description": STR,
        },
        "required": ["type", "title", "status", "detail"],
        "additionalProperties": False,
    },
    "Token": _obj({
        "access_token": STR,
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": INT,
        "scope": STR,
    }),
    "TokenRequest": {
        "type": "object",
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "scope": {"type": "string", "description": "Space-separated; default: all the client's scopes."},
            "client_id": {"type": "string", "description": "client_secret_post only."},
            "client_secret": {"type": "string", "description": "client_secret_post only."},
            "client_assertion_type": {"type": "string", "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]},
            "client_assertion": {"type": "string", "description": "private_key_jwt: a JWT signed with the client's key."},
        },
        "required": ["grant_type"],
    },
    "CaseSummary": _obj({
        "id": INT,
        "reference": STR,
        "status": {"type": "string", "enum": [s.value for s in CaseStatus]},
        "authority_id": STR,
        "first_authority_id": STR,
        "role": STR,
        "service": STR,
        "request_reference": _nullable(STR),
        "rule_id": _nullable(STR),
        "rule_set_version": _nullable(INT),
        "opened_at": DATETIME,
        "accepted_at": _nullable(DATETIME),
        "decided_at": _nullable(DATETIME),
        "closed_at": _nullable(DATETIME),
        "updated_at": DATETIME,
        "target_due": _nullable(DATE),
        "limit_due": _nullable(DATE),
        "version": {"type": "integer", "description": "Changes with every change of the case."},
    }),
    "CaseEvent": _obj({
        "kind": STR, "at": DATETIME, "authority_id": _nullable(STR), "visible_to_citizen": {"type": "boolean"},
        "data": {"type": "object"},
    }),
    "Handover": _obj({
        "id": INT, "case_id": INT, "from_authority_id": STR, "to_authority_id": STR, "reason": STR,
        "sent_at": DATETIME, "accepted_at": _nullable(DATETIME),
    }),
    "Message": _obj({
        "id": INT, "case_id": INT, "to_citizen": {"type": "boolean"}, "body": STR, "created_at": DATETIME,
        "read_at": _nullable(DATETIME),
    }),
    "CaseList": _obj({
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/CaseSummary"}},
        "next_cursor": {"type": ["string", "null"],
                        "description": "Pass as `cursor` for the next page; null on the last page."},
    }),
    "RoutingExplanation": _obj({
        "case_id": INT,
        "rule_id": _nullable(STR),
        "rule_set_version": _nullable(INT),
        "decided_at": _nullable(DATETIME),
        "decision": {"type": ["object", "null"],
                     "description": "The routing engine's decision as stored: facts, assignments, rules matched and passed over."},
        "explanation": {"type": ["string", "null"], "description": "The explanation for staff, in words."},
    }),
    "Authority": _obj({
        "id": STR,
        "kind": {"type": "string", "enum": ["municipality", "region", "state"]},
        "code": _nullable(STR),
        "name_da": STR,
        "name_en": STR,
        "valid_from": _nullable(DATE),
        "valid_to": _nullable(DATE),
        "successor_id": _nullable(STR),
        "region_id": {"type": ["string", "null"], "description": "A municipality's region on the date asked for."},
    }),
    "AuthorityList": _obj({
        "on": DATE, "items": {"type": "array", "items": {"$ref": "#/components/schemas/Authority"}},
    }),
    "RuleSet": _obj({
        "version": INT,
        "status": {"type": "string", "enum": ["published", "superseded", "default"],
                   "description": "`default`: shipped with Indgang; routes any date no published version covers."}, "valid_from": DATE, "valid_to": _nullable(DATE),
        "published_at": _nullable(DATETIME), "note": _nullable(STR), "source": STR,
    }, required=["version", "status", "valid_from", "valid_to", "published_at", "note"]),
    "RuleSetList": _obj({"items": {"type": "array", "items": {"$ref": "#/components/schemas/RuleSet"}}}),
    "Accept": _obj({"expected_version": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}, required=[]),
    "Reject": _obj({
        "reason": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": TEXT},
        "to_authority_id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": TEXT},
        "expected_version": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }, required=["reason", "to_authority_id"]),
    "StatusChange": _obj({
        "status": {"type": "string", "enum": [s.value for s in CaseStatus]},
        "expected_version": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }, required=["status"]),
    "Decision": _obj({
        "outcome": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": TEXT,
                    "description": "The decision in words, sent to the citizen as a message."},
        "expected_version": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }, required=["outcome"]),
    "NewMessage": _obj({"body": {"type": "string", "minLength": 1, "maxLength": 5000, "pattern": TEXT}}),
    "Rejection": _obj({"handover": {"$ref": "#/components/schemas/Handover"}}),
    "NewWebhook": _obj({
        "url": {"type": "string", "maxLength": 500, "pattern": WEBHOOK_URL_PATTERN,
                "description": "HTTPS; plain http only to loopback outside production."},
        "events": {"type": "array", "minItems": 1, "uniqueItems": True,
                   "items": {"type": "string", "enum": list(EVENT_TYPES)}},
    }),
    "Webhook": _obj({
        "id": INT, "url": STR, "events": {"type": "array", "items": STR}, "authority_id": STR,
        "created_at": DATETIME,
        "secret": {"type": "string", "description": "Shown only when the subscription is made."},
    }, required=["id", "url", "events", "authority_id", "created_at"]),
    "WebhookList": _obj({"items": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}}),
    "Delivery": _obj({
        "id": INT, "subscription_id": INT, "event_id": STR, "event_type": STR,
        "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
        "attempts": INT, "last_status_code": _nullable(INT), "last_error": _nullable(STR),
        "replay_of_id": _nullable(INT), "created_at": DATETIME, "last_attempt_at": _nullable(DATETIME),
        "delivered_at": _nullable(DATETIME), "payload": {"$ref": "#/components/schemas/WebhookEvent"},
    }),
    "DeliveryList": _obj({"items": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}}),
    "WebhookEvent": _obj({
        "id": STR, "type": {"type": "string", "enum": list(EVENT_TYPES)}, "created_at": DATETIME,
        "authority_id": STR, "data": {"type": "object"},
    }),
}
SCHEMAS["CaseDetail"] = _obj({
    **SCHEMAS["CaseSummary"]["properties"],
    "request": _obj({"reference": _nullable(STR), "filed_at": _nullable(DATETIME), "locale": STR,
                     "municipality_code": _nullable(STR), "answers": {"type": "object"}}),
    "citizen": _obj({"name": STR}),
    "events": {"type": "array", "items": {"$ref": "#/components/schemas/CaseEvent"}},
    "handovers": {"type": "array", "items": {"$ref": "#/components/schemas/Handover"}},
    "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
})


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str) -> dict:
    return {"application/json": {"schema": _ref(name)}}


_PROBLEM_CONTENT = {"application/problem+json": {"schema": _ref("Problem")}}
_ERRORS = {
    "400": "The request is malformed (bad JSON, parameter or cursor).",
    "401": "No valid bearer token.",
    "403": "The token lacks the scope this call needs.",
    "404": "No such resource for this client (also another authority's case).",
    "405": "Method not allowed.",
    "409": "The case changed meanwhile, its request has been anonymised (no new messages), "
           "or a call with this Idempotency-Key is in progress.",
    "413": "The body is too large.",
    "415": "The body is not JSON.",
    "422": "The request is well-formed but cannot be done (see `errors`), or an Idempotency-Key was reused with another request.",
    "429": "Too many requests; see Retry-After.",
    "500": "Unexpected error; quote the correlation_id.",
}


def _problems(*codes: str) -> dict:
    return {code: {"description": _ERRORS[code], "content": _PROBLEM_CONTENT} for code in codes}


_READ_ERRORS = ("400", "401", "403", "404", "405", "429", "500")
_WRITE_ERRORS = ("400", "401", "403", "404", "405", "409", "413", "415", "422", "429", "500")

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_CASE_ID = {"name": "case_id", "in": "path", "required": True, "schema": _ID}
_WEBHOOK_ID = {"name": "webhook_id", "in": "path", "required": True, "schema": _ID}
_DELIVERY_ID = {"name": "delivery_id", "in": "path", "required": True, "schema": _ID}
_IDEMPOTENCY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Retrying with the same key returns the stored response and does not act twice.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
}


def _op(summary: str, scope: str | None, responses: dict, *, errors=_READ_ERRORS, parameters=None,
        body: str | None = None, op_id: str) -> dict:
    op = {"operationId": op_id, "summary": summary, "responses": {**responses, **_problems(*errors)}}
    if scope:
        op["security"] = [{"oauth2": [scope]}]
        op["description"] = f"Needs the scope `{scope}`."
    else:
        op["security"] = []
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": True, "content": _json(body)}
    return op


def _ok(schema: str, code: str = "200", description: str = "OK") -> dict:
    return {code: {"description": description, "content": _json(schema)}}


def _write(summary: str, op_id: str, body: str | None, response: str, code: str = "200") -> dict:
    return {"post": _op(summary, "cases:write", _ok(response, code), errors=_WRITE_ERRORS, body=body,
                        parameters=[_CASE_ID, _IDEMPOTENCY], op_id=op_id)}


PATHS: dict[str, dict] = {
    "/oauth/token": {"post": {
        "operationId": "token",
        "summary": "Get an access token (OAuth 2 client credentials)",
        "description": "Authenticate with HTTP Basic (client_secret_basic), form fields (client_secret_post) "
                       "or a signed JWT (private_key_jwt, RFC 7523). Errors are problems that also carry "
                       "the OAuth `error` and `error_description` members.",
        "security": [],
        "requestBody": {"required": True,
                        "content": {"application/x-www-form-urlencoded": {"schema": _ref("TokenRequest")}}},
        "responses": {**_ok("Token"), **_problems("400", "401", "405", "413", "429", "500")},
    }},
    "/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This description", "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}},
                      **_problems("405", "500")},
    }},
    "/cases": {"get": _op(
        "List the authority's cases", "cases:read", _ok("CaseList"), op_id="listCases",
        parameters=[
            {"name": "status", "in": "query", "schema": {"type": "string", "enum": [s.value for s in CaseStatus]}},
            {"name": "service", "in": "query",
             "schema": {"type": "string", "maxLength": SERVICE_MAX_LENGTH, "pattern": TEXT}},
            {"name": "updated_since", "in": "query", "schema": {"type": "string", "format": "date-time"},
             "description": "Only cases changed at or after this time (ISO 8601; UTC if no offset)."},
            {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"},
             "description": "The `next_cursor` of the previous page."},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
        ])},
    "/cases/{case_id}": {"get": _op("Read a case", "cases:read", _ok("CaseDetail"), parameters=[_CASE_ID],
                                    op_id="getCase")},
    "/cases/{case_id}/routing": {"get": _op(
        "The routing decision and explanation behind a case", "cases:read", _ok("RoutingExplanation"),
        parameters=[_CASE_ID], op_id="getCaseRouting")},
    "/cases/{case_id}/accept": _write("Accept a pending case", "acceptCase", "Accept", "CaseSummary"),
    "/cases/{case_id}/reject": _write("Reject a case and hand it to the authority it belongs to",
                                      "rejectCase", "Reject", "Rejection"),
    "/cases/{case_id}/status": _write("Change a case's status", "changeStatus", "StatusChange", "CaseSummary"),
    "/cases/{case_id}/messages": _write("Send the citizen a message", "sendMessage", "NewMessage", "Message", "201"),
    "/cases/{case_id}/decision": _write("Record the decision (the citizen gets it as a message)",
                                        "recordDecision", "Decision", "CaseSummary"),
    "/authorities": {"get": _op(
        "The authority registry on a date", "registry:read", _ok("AuthorityList"), op_id="listAuthorities",
        parameters=[{"name": "on", "in": "query", "schema": DATE, "description": "Default: today."}])},
    "/authorities/{authority_id}": {"get": _op(
        "One authority", "registry:read", _ok("Authority"), op_id="getAuthority",
        parameters=[{"name": "authority_id", "in": "path", "required": True,
                     "schema": {"type": "string", "maxLength": 64, "pattern": TEXT}},
                    {"name": "on", "in": "query", "schema": DATE,
                     "description": "The date for `region_id`; default: today."}])},
    "/rule-sets": {"get": _op("Published routing rule sets", "registry:read", _ok("RuleSetList"),
                              op_id="listRuleSets")},
    "/rule-sets/{version}": {"get": _op(
        "One published rule set, with its source", "registry:read", _ok("RuleSet"), op_id="getRuleSet",
        parameters=[{"name": "version", "in": "path", "required": True, "schema": _ID}])},
    "/webhooks": {
        "get": _op("The authority's webhook subscriptions", "webhooks:manage", _ok("WebhookList"),
                   op_id="listWebhooks"),
        "post": _op("Subscribe an HTTPS endpoint to events", "webhooks:manage",
                    _ok("Webhook", "201", "Created; the secret is shown only now."),
                    errors=("400", "401", "403", "405", "409", "413", "415", "422", "429", "500"),
                    body="NewWebhook", parameters=[_IDEMPOTENCY], op_id="createWebhook"),
    },
    "/webhooks/{webhook_id}": {
        "get": _op("One subscription", "webhooks:manage", _ok("Webhook"), parameters=[_WEBHOOK_ID],
                   op_id="getWebhook"),
        "delete": _op("Remove a subscription", "webhooks:manage", {"204": {"description": "Removed"}},
                      parameters=[_WEBHOOK_ID], op_id="deleteWebhook"),
    },
    "/webhooks/{webhook_id}/deliveries": {"get": _op(
        "The delivery log of a subscription (newest first)", "webhooks:manage", _ok("DeliveryList"),
        parameters=[_WEBHOOK_ID, {"name": "limit", "in": "query",
                                  "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}],
        op_id="listDeliveries")},
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay": {"post": _op(
        "Send a delivery's event again", "webhooks:manage", _ok("Delivery", "202", "Queued"),
        parameters=[_WEBHOOK_ID, _DELIVERY_ID, _IDEMPOTENCY], op_id="replayDelivery",
        errors=("400", "401", "403", "404", "405", "409", "422", "429", "500"))},
}


def description(server_url: str = "/api/v1") -> dict:
    """The OpenAPI document (a fresh copy)."""
    return deepcopy({
        "openapi": "3.1.0",
        "info": {
            "title": "Indgang API for authorities",
            "version": "1.0.0",
            "description": "Cases in and out of Indgang for authorities' own systems. See docs/api.md. "
                           "Errors are RFC 9457 problems. Webhooks are signed as in Standard Webhooks.",
            "license": {"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
        },
        "servers": [{"url": server_url}],
        "security": [{"oauth2": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"oauth2": {
                "type": "oauth2",
                "description": "Client credentials; authenticate with client_secret_basic, client_secret_post or private_key_jwt.",
                "flows": {"clientCredentials": {
                    "tokenUrl": f"{server_url}/oauth/token",
                    "scopes": {
                        "cases:read": "Read the authority's cases and their routing",
                        "cases:write": "Accept, reject, change status, message, decide",
                        "registry:read": "Read the authority registry and published rule sets",
                        "webhooks:manage": "Manage the authority's webhook subscriptions and replay deliveries",
                    },
                }},
            }},
        },
    })


def schema_validator(name: str) -> Draft202012Validator:
    """A validator for one component schema (its $refs resolve in this document)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": description()["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validation_errors(name: str, body) -> list[dict]:
    """Where ``body`` breaks the schema ``name``: a list of {field, message}, empty if none."""
    errors = []
    for error in sorted(schema_validator(name).iter_errors(body), key=lambda e: list(e.path)):
        field = ".".join(str(p) for p in error.path) or (
            error.params.get("property") if hasattr(error, "params") else None) or "body"
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "body"
            errors.append({"field": missing, "message": "This field is required."})
        elif error.validator == "additionalProperties":
            errors.append({"field": field, "message": f"Unknown field(s): {error.message.split('(')[-1].rstrip(')')}"})
        else:
            errors.append({"field": field, "message": error.message})
    return errors
