"""A caseworker of Aarhus cannot read, list or act on a case of Odense, on any route."""

from __future__ import annotations

import pytest
from flask import Blueprint, abort

from portal.models import AuditOutcome
from tests.factories import make_case, make_citizen, make_request, make_staff
from tests.support.staff_scope import staff_case_rules, walk_staff_case_routes

MISSING_CASE_ID = 987_654_321


@pytest.fixture
def odense_case(session):
    citizen = make_citizen(session, municipality_code="461")
    return make_case(session, make_request(session, citizen), authority_id="municipality-461")


@pytest.fixture
def aarhus_caseworker(session):
    return make_staff(session, authority_id="municipality-751")


def test_aarhus_caseworker_gets_404_and_deny_row_on_every_staff_case_route(
        app, client, login, session, odense_case, aarhus_caseworker):
    login(aarhus_caseworker)
    report = walk_staff_case_routes(app, client, case_id=odense_case.id,
                                    missing_id=MISSING_CASE_ID, session=session)
    assert report.unfilled == []
    assert report.problems == []
    # The walk really reached the case pages and actions (it cannot pass by walking nothing).
    assert {"GET /cases/<id:case_id>", "GET /cases/<id:case_id> (htmx)",
            "POST /cases/<id:case_id>/accept"} <= set(report.walked)


# The walker itself must catch leaks: a test app with one scoped and one leaky route.


def _demo_staff_blueprint():
    from portal.auth import current_user, login_required
    from portal.db import get_session
    from portal.models import Case
    from portal.services import audit

    bp = Blueprint("demo_staff", __name__)

    def _scoped(case_id):
        db = get_session()
        case = db.get(Case, case_id)
        if case is None or case.authority_id != current_user.authority_id:
            audit.record(db, actor=current_user._get_current_object(), action="case_view",
                         outcome=AuditOutcome.DENY, case_id=case_id)
            db.commit()
            abort(404)
        return case

    @bp.route("/demo/cases/<int:case_id>", methods=["GET", "POST"])
    @login_required
    def scoped(case_id):
        return f"case {_scoped(case_id).reference}"

    @bp.get("/demo/leaky/<int:case_id>")
    @login_required
    def leaky(case_id):
        from portal.models import Case

        case = get_session().get(Case, case_id)
        return f"case {case.reference}" if case else abort(404)

    @bp.get("/demo/cases/<int:case_id>/files/<int:attachment_id>")
    @login_required
    def attachment(case_id, attachment_id):
        _scoped(case_id)
        abort(404)

    return bp


@pytest.fixture
def app_with_demo_routes(app):
    app.register_blueprint(_demo_staff_blueprint())
    return app


def test_walker_finds_the_leak_and_passes_the_scoped_route(
        app_with_demo_routes, login, session, odense_case, aarhus_caseworker):
    app = app_with_demo_routes
    client = app.test_client()
    login(aarhus_caseworker, for_client=client)
    rules = [r.rule for r in staff_case_rules(app)]
    assert "/demo/cases/<int:case_id>" in rules and "/demo/leaky/<int:case_id>" in rules
    report = walk_staff_case_routes(app, client, case_id=odense_case.id,
                                    missing_id=MISSING_CASE_ID, session=session,
                                    fill={"attachment_id": 1})
    assert "GET /demo/cases/<int:case_id>" in report.walked
    assert "GET /demo/cases/<int:case_id> (htmx)" in report.walked
    assert "POST /demo/cases/<int:case_id>" in report.walked
    assert not [p for p in report.problems if p.startswith(("GET /demo/cases", "POST /demo"))]
    leaks = [p for p in report.problems if "/demo/leaky/" in p]
    assert any("200, expected 404" in p for p in leaks)
    assert any("no deny audit row" in p for p in leaks)


def test_walker_reports_routes_it_cannot_fill(app_with_demo_routes, login, session,
                                              odense_case, aarhus_caseworker):
    app = app_with_demo_routes
    client = app.test_client()
    login(aarhus_caseworker, for_client=client)
    report = walk_staff_case_routes(app, client, case_id=odense_case.id,
                                    missing_id=MISSING_CASE_ID, session=session)
    assert report.unfilled == ["/demo/cases/<int:case_id>/files/<int:attachment_id> needs "
                               "attachment_id"]
