"""The API's contract: the OpenAPI description covers every route, errors are RFC 9457
problems everywhere under /api/, and idempotency keys make retries safe."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from portal.api import idempotency
from portal.api.openapi import PATHS, description
from portal.models import AuditEntry, IdempotencyRecord, Message
from tests.api.conftest import ODENSE, check
from tests.factories import make_case, make_citizen, make_request

PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance"}


def test_every_route_of_the_blueprint_is_described_and_nothing_else(app):
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule).removeprefix("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    described = {(path, method) for path, item in PATHS.items() for method in item}
    assert served == described


def test_the_description_is_valid_openapi_3_1(client):
    doc = check(client.get("/api/v1/openapi.json"), "get").json
    assert doc["openapi"] == "3.1.0"
    # Every schema is valid JSON Schema 2020-12.
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    # Every protected operation names a scope that exists.
    scopes = set(doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"])
    for item in doc["paths"].values():
        for op in item.values():
            for requirement in op["security"]:
                assert set(requirement["oauth2"]) <= scopes
    assert doc == description()


def test_the_served_description_is_what_openapi_spec_validator_accepts(client):
    from openapi_spec_validator import validate

    validate(client.get("/api/v1/openapi.json").json)


@pytest.mark.parametrize("method,path,status", [
    ("get", "/api/v1/no-such-thing", 404),
    ("get", "/api/v1/cases/not-a-number", 404),
    ("put", "/api/v1/cases", 405),
    ("delete", "/api/v1/oauth/token", 405),
    ("get", "/api/v1/cases", 401),
])
def test_http_errors_under_api_are_problems(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert set(body) >= PROBLEM_MEMBERS
    assert body["status"] == status and body["instance"] == path
    assert body["detail"] and body["correlation_id"] == response.headers["X-Correlation-ID"]
    if status == 405:
        assert "allowed:" in body["detail"] and response.headers["Allow"]


def test_a_body_too_large_is_a_413_problem(app, odense_api, session):
    case = make_case(session, make_request(session, make_citizen(session)), authority_id=ODENSE)
    session.commit()
    app.config["API_MAX_BODY_BYTES"] = 1000
    response = odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "x" * 5000})
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_a_body_that_is_not_json_is_a_415_or_400_problem(odense_api, session):
    case = make_case(session, make_request(session, make_citizen(session)), authority_id=ODENSE)
    session.commit()
    wrong_type = odense_api.post(f"/api/v1/cases/{case.id}/messages", data="body=hej",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong_type.status_code == 415
    broken = odense_api.post(f"/api/v1/cases/{case.id}/messages", data="{not json",
                             headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json["type"] == "urn:indgang:problem:malformed-json"


def test_an_unknown_field_is_a_422_problem(odense_api, session):
    case = make_case(session, make_request(session, make_citizen(session)), authority_id=ODENSE)
    session.commit()
    response = odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "hej", "authority_id": "x"})
    assert response.status_code == 422
    assert response.json["errors"][0]["message"].startswith("Unknown field")


def test_an_unexpected_error_is_a_500_problem_without_a_stack_trace(odense_api, session, monkeypatch):
    from portal.api import views

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    make_case(session, make_request(session, make_citizen(session)), authority_id=ODENSE)
    session.commit()
    monkeypatch.setattr(views.rep, "case_summary", broken)
    response = odense_api.get("/api/v1/cases")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "secret internals" not in response.get_data(as_text=True)
    assert response.json["correlation_id"]


def test_too_many_calls_get_429_with_retry_after(app, odense_api):
    app.config.update(RATELIMIT_ENABLED=True, API_RATE_LIMIT_PER_MINUTE=3)
    statuses = [odense_api.get("/api/v1/authorities").status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    last = odense_api.get("/api/v1/authorities")
    assert last.mimetype == "application/problem+json" and int(last.headers["Retry-After"]) > 0


# --- idempotency -----------------------------------------------------------------------------


@pytest.fixture
def case(session):
    made = make_case(session, make_request(session, make_citizen(session)), authority_id=ODENSE)
    session.commit()
    return made


def _count_messages(session, case_id):
    return session.scalar(select(func.count()).select_from(Message).where(Message.case_id == case_id))


def test_a_retried_write_returns_the_stored_response_and_acts_once(odense_api, session, case):
    headers = {"Idempotency-Key": "msg-0001"}
    first = odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "Hej"}, headers=headers)
    second = odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "Hej"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _count_messages(session, case.id) == 1


def test_a_retried_accept_does_not_fail_as_already_accepted(odense_api, case):
    headers = {"Idempotency-Key": "accept-1"}
    first = odense_api.post(f"/api/v1/cases/{case.id}/accept", headers=headers)
    again = odense_api.post(f"/api/v1/cases/{case.id}/accept", headers=headers)
    assert first.status_code == again.status_code == 200
    without_key = odense_api.post(f"/api/v1/cases/{case.id}/accept")
    assert without_key.status_code == 422  # accepting twice is not allowed: the key is what made it safe


def test_a_key_whose_answer_was_lost_says_so_instead_of_in_progress_forever(odense_api, session, case):
    """The change and the key commit together; the answer is stored by a second commit.
    If the process died between the two, the key must not answer "in progress" for a day."""
    headers = {"Idempotency-Key": "msg-lost"}
    assert odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "Hej"}, headers=headers).status_code == 201
    record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "msg-lost"))
    record.status_code, record.response_body = None, None  # as if the second commit never happened
    session.commit()
    fresh = odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "Hej"}, headers=headers)
    assert fresh.status_code == 409 and fresh.json["type"] == "urn:indgang:problem:idempotency-in-progress"
    record.created_at = record.created_at - timedelta(seconds=idempotency.IN_PROGRESS_SECONDS + 1)
    session.commit()
    lost = odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "Hej"}, headers=headers)
    assert lost.status_code == 409 and lost.json["type"] == "urn:indgang:problem:idempotency-answer-lost"
    assert _count_messages(session, case.id) == 1


def test_the_same_key_with_another_body_is_a_422_problem(odense_api, session, case):
    headers = {"Idempotency-Key": "msg-0002"}
    odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "Hej"}, headers=headers)
    other = odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "Farvel"}, headers=headers)
    assert other.status_code == 422
    assert other.json["type"] == "urn:indgang:problem:idempotency-key-reused"
    assert _count_messages(session, case.id) == 1


def test_a_failed_call_leaves_the_key_free_to_retry(odense_api, session, case):
    headers = {"Idempotency-Key": "msg-0003"}
    bad = odense_api.post(f"/api/v1/cases/{case.id}/status", json={"status": "closed"}, headers=headers)
    assert bad.status_code == 422
    good = odense_api.post(f"/api/v1/cases/{case.id}/accept", headers=headers)
    assert good.status_code == 200


def test_a_denied_call_with_a_key_keeps_its_audit_row_and_frees_the_key(odense_api, session):
    theirs = make_case(session, make_request(session, make_citizen(session)), authority_id="municipality-751")
    session.commit()
    headers = {"Idempotency-Key": "probe"}
    assert odense_api.post(f"/api/v1/cases/{theirs.id}/accept", headers=headers).status_code == 404
    assert odense_api.post(f"/api/v1/cases/{theirs.id}/accept", headers=headers).status_code == 404
    denied = session.scalars(select(AuditEntry).where(AuditEntry.case_id == theirs.id)).all()
    assert len(denied) == 2


def test_keys_are_per_client(odense_api, session, case):
    from tests.api.conftest import Api, get_token, new_client

    other = new_client(session, ODENSE)
    other_api = Api(odense_api.http, get_token(odense_api.http, other))
    headers = {"Idempotency-Key": "shared-name"}
    odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "A"}, headers=headers)
    second = other_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "B"}, headers=headers)
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert _count_messages(session, case.id) == 2


@pytest.mark.parametrize("key", ["x" * 201, "two words", "æøå"])
def test_a_malformed_key_is_a_400_problem(odense_api, case, key):
    response = odense_api.post(f"/api/v1/cases/{case.id}/accept", headers={"Idempotency-Key": key.encode().decode("latin-1")})
    assert response.status_code == 400


# --- registry ----------------------------------------------------------------------------------


def test_the_registry_follows_the_2027_region_reform(odense_api):
    before = odense_api.get("/api/v1/authorities", query_string={"on": "2026-12-31"}).json
    after = odense_api.get("/api/v1/authorities", query_string={"on": "2027-01-01"}).json
    ids_before = {a["id"] for a in before["items"]}
    ids_after = {a["id"] for a in after["items"]}
    assert sum(a.startswith("municipality-") for a in ids_before) == 98
    assert ids_before != ids_after
    odense = odense_api.get("/api/v1/authorities/municipality-461").json
    assert "Odense" in odense["name_da"] and odense["region_id"]
    assert odense_api.get("/api/v1/authorities/nowhere").status_code == 404
    assert odense_api.get("/api/v1/authorities", query_string={"on": "soon"}).status_code == 400


def test_today_is_the_danish_day_so_the_reform_applies_from_danish_midnight(odense_api, monkeypatch):
    """At 00:30 on 1 January 2027 in Denmark a UTC server is still on 31 December:
    without ``on`` the API must answer with the registry of the Danish day."""
    from datetime import UTC, datetime

    from portal.services import deadlines

    monkeypatch.setattr(deadlines, "clock", lambda: datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    today = odense_api.get("/api/v1/authorities").json
    reform = odense_api.get("/api/v1/authorities", query_string={"on": "2027-01-01"}).json
    assert today["on"] == "2027-01-01" and today["items"] == reform["items"]
    before = odense_api.get("/api/v1/authorities", query_string={"on": "2026-12-31"}).json
    assert today["items"] != before["items"]
    # Copenhagen's region changes with the reform: the detail answers for the Danish day too.
    copenhagen = odense_api.get("/api/v1/authorities/municipality-101").json
    assert copenhagen == next(a for a in reform["items"] if a["id"] == "municipality-101")
    assert copenhagen != next(a for a in before["items"] if a["id"] == "municipality-101")


def test_published_rule_sets_are_listed_drafts_are_not(odense_api, session):
    from datetime import date

    from portal.models import RuleSet, RuleSetStatus

    session.add_all([
        RuleSet(version=901, status=RuleSetStatus.PUBLISHED, valid_from=date(2026, 1, 1), source="rules: []"),
        RuleSet(version=902, status=RuleSetStatus.DRAFT, valid_from=date(2026, 1, 1), source="rules: []"),
    ])
    session.commit()
    versions = [r["version"] for r in odense_api.get("/api/v1/rule-sets").json["items"]]
    assert 901 in versions and 902 not in versions
    assert odense_api.get("/api/v1/rule-sets/901").json["source"] == "rules: []"
    assert odense_api.get("/api/v1/rule-sets/902").status_code == 404


def test_the_shipped_default_rule_set_is_listed_with_its_source(odense_api):
    from portal.services.routing import default_rule_set

    default = default_rule_set()
    items = odense_api.get("/api/v1/rule-sets").json["items"]
    assert {"version": default.version, "status": "default"}.items() <= items[0].items()
    detail = odense_api.get(f"/api/v1/rule-sets/{default.version}").json
    assert "rules:" in detail["source"]


@pytest.mark.parametrize("call", ["query", "path", "body", "basic auth"])
def test_nul_characters_are_refused_not_a_server_error(client, odense_api, session, call):
    # PostgreSQL text cannot hold NUL: it must be refused before it reaches the database.
    if call == "query":
        response = odense_api.get("/api/v1/cases", query_string={"service": "a\x00b"})
    elif call == "path":
        response = odense_api.get("/api/v1/authorities/a%00b")
    elif call == "body":
        case = make_case(session, make_request(session, make_citizen(session)), authority_id=ODENSE)
        session.commit()
        response = odense_api.post(f"/api/v1/cases/{case.id}/messages", json={"body": "a\x00b"})
    else:
        response = client.post("/api/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=("a\x00b", "x"))
    assert response.status_code == {"query": 400, "path": 400, "body": 422, "basic auth": 401}[call]
    assert response.mimetype == "application/problem+json"
