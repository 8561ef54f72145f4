"""Walk every staff route that takes a case id and prove another authority's case is
invisible there: 404 exactly like a case that does not exist, plus a ``deny`` audit row.

Use it from a test with a logged-in test client of a caseworker of authority A and
the id of a case of authority B::

    report = walk_staff_case_routes(app, client, case_id=odense_case.id,
                                    missing_id=10**9, session=session)
    assert report.problems == []

A route counts as a staff case route when one of its URL arguments is a case id
(``CASE_ARGS``) and its blueprint is not a citizen one (``CITIZEN_BLUEPRINTS``). Other
URL arguments are filled from ``fill``; a route with an argument nobody filled is
reported in ``report.unfilled`` so that a new route cannot slip past unwalked.
Each GET is tried as a page and as an htmx partial; every other method is sent with
the session's CSRF token, so the scope check (not CSRF) is what answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select

CASE_ARGS = ("case_id",)
CITIZEN_BLUEPRINTS = ("citizen", "main", "auth", "health", "static")
CITIZEN_AREA = "/mine/"
# The API authenticates with bearer tokens, not a session: walk it separately, with
# ``skip_blueprints=()`` and the token in ``headers``.
SESSION_LESS_BLUEPRINTS = ("api",)
IGNORED_METHODS = {"HEAD", "OPTIONS"}
_VOLATILE = re.compile(
    r'name="csrf_token" value="[^"]*"|"X-CSRFToken": "[^"]*"'  # per-request tokens
    r"|[0-9a-f]{16,64}"  # correlation ids
)


def _normalised(body: str, path: str) -> str:
    """The page with per-request tokens and the requested path blanked out."""
    return _VOLATILE.sub("", body.replace(path, "<path>"))


@dataclass
class WalkReport:
    walked: list[str] = field(default_factory=list)
    unfilled: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def staff_case_rules(app, skip_blueprints=SESSION_LESS_BLUEPRINTS) -> list:
    """The URL rules of staff routes that take a case id."""
    rules = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".", 1)[0] if "." in rule.endpoint else ""
        if blueprint in CITIZEN_BLUEPRINTS or blueprint in skip_blueprints:
            continue
        # The citizen's own area lives under /mine; staff are refused there by role.
        if rule.rule.startswith(CITIZEN_AREA):
            continue
        if any(arg in rule.arguments for arg in CASE_ARGS):
            rules.append(rule)
    return sorted(rules, key=lambda r: r.rule)


def _denied_rows(session, case_id: int) -> int:
    from portal.models import AuditEntry, AuditOutcome

    session.expire_all()
    return session.scalar(
        select(func.count()).select_from(AuditEntry).where(
            AuditEntry.case_id == case_id, AuditEntry.outcome == AuditOutcome.DENY
        )
    )


def _csrf(client) -> str:
    from tests.conftest import csrf_token

    return csrf_token(client, "/")


def walk_staff_case_routes(app, client, *, case_id: int, missing_id: int, session,
                           fill: dict | None = None, headers: dict | None = None,
                           skip_blueprints=SESSION_LESS_BLUEPRINTS) -> WalkReport:
    """Request every staff case route for ``case_id`` and for ``missing_id``."""
    report = WalkReport()
    token = _csrf(client)
    for rule in staff_case_rules(app, skip_blueprints):
        values = dict(fill or {})
        unknown = [a for a in rule.arguments if a not in CASE_ARGS and a not in values]
        if unknown:
            report.unfilled.append(f"{rule.rule} needs {', '.join(sorted(unknown))}")
            continue
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            variants = [{}, {"HX-Request": "true"}] if method == "GET" else [{"X-CSRFToken": token}]
            for variant in variants:
                sent = {**(headers or {}), **variant}
                label = f"{method} {rule.rule}{' (htmx)' if 'HX-Request' in variant else ''}"
                report.walked.append(label)
                url_of = {a: case_id for a in CASE_ARGS if a in rule.arguments}
                with app.test_request_context():
                    from flask import url_for

                    target = url_for(rule.endpoint, **values, **url_of)
                    missing = url_for(rule.endpoint, **values,
                                      **{a: missing_id for a in url_of})
                before = _denied_rows(session, case_id)
                got = client.open(target, method=method, headers=sent)
                after = _denied_rows(session, case_id)
                absent = client.open(missing, method=method, headers=sent)
                if got.status_code != 404:
                    report.problems.append(f"{label}: {got.status_code}, expected 404")
                if absent.status_code != got.status_code:
                    report.problems.append(
                        f"{label}: other authority's case {got.status_code} but missing case "
                        f"{absent.status_code}"
                    )
                elif _normalised(got.get_data(as_text=True), target) != _normalised(
                        absent.get_data(as_text=True), missing):
                    report.problems.append(f"{label}: body differs from a missing case")
                if after <= before:
                    report.problems.append(f"{label}: no deny audit row")
    return report
