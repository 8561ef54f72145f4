"""Ids and whole numbers from the outside are ASCII digits in the column's range:
anything else is a 400/404 or a form error, never a 500, and nothing changes."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_token


@pytest.mark.parametrize(("value", "expected"), [
    ("1", 1), (" 42 ", 42), (str(2**31 - 1), 2**31 - 1), ("0", 0),
    ("²", None), ("٣", None), ("１", None), ("-1", None), ("+1", None), ("1.0", None), ("", None),
    (str(2**31), None), ("9" * 5000, None), (None, None), ("1e3", None), ("0x10", None),
])
def test_parse_int_takes_ascii_digits_in_range(value, expected):
    from portal.numbers import parse_int

    assert parse_int(value) == expected


@pytest.mark.parametrize("path", [
    "/cases/9223372036854775808", "/cases/2147483648", "/cases/%D9%A3", "/cases/%C2%B2", "/cases/0",
    "/ansoegninger/9223372036854775808", "/plans/9223372036854775808", "/plans/%D9%A3",
    "/admin/rules/9223372036854775808", "/api/v1/requests/9223372036854775808",
])
def test_an_id_out_of_range_or_not_ascii_is_not_found(client, login, world, path):
    login(world.administrator if "/admin" in path else world.caseworker)
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("query", ["page=%C2%B2", "page=99999999999999999999", "page=%D9%A3",
                                   "assignee=%C2%B2", "assignee=99999999999999999999", "assignee=%D9%A3"])
def test_inbox_queries_with_bad_numbers_answer(client, login, world, query):
    login(world.caseworker)
    assert client.get(f"/cases/?{query}").status_code == 200


@pytest.mark.parametrize(("action", "data"), [
    ("status", {"status": "in_progress", "version": "²"}),
    ("assign", {"assignee": "²"}),
    ("assign", {"assignee": "99999999999999999999"}),
    ("deadline", {"kind": "suspend", "days": "٣", "deadline_reason": "Venter på lægen"}),
    ("deadline", {"kind": "suspend", "days": "9" * 5000, "deadline_reason": "Venter på lægen"}),
])
def test_case_actions_with_bad_numbers_change_nothing(client, login, session, world, action, data):
    login(world.caseworker)
    before = (world.case.version, world.case.target_due, world.case.assignee_id)
    token = csrf_token(client, f"/cases/{world.case.id}")
    r = client.post(f"/cases/{world.case.id}/{action}", data={**data, "csrf_token": token})
    assert r.status_code in (400, 409, 422), r.status_code
    session.expire_all()
    assert (world.case.version, world.case.target_due, world.case.assignee_id) == before


def test_a_plan_action_with_a_bad_case_id_is_a_form_error(client, login, session, world):
    from sqlalchemy import func, select

    from portal.models import Action

    count = session.scalar(select(func.count()).select_from(Action))
    login(world.caseworker)
    path = f"/plans/{world.plan.id}/goals/{world.goal_id}/actions/new"
    token = csrf_token(client, path)
    r = client.post(path, data={"title": "Hjemmepleje", "responsible": "municipality-461", "due_on": "2026-12-20",
                                "status": "planned", "case_id": "²", "csrf_token": token})
    assert r.status_code == 400
    assert session.scalar(select(func.count()).select_from(Action)) == count


def test_a_plan_change_with_a_bad_version_is_refused(client, login, world):
    login(world.caseworker)
    path = f"/plans/{world.plan.id}/goals/{world.goal_id}/edit"
    token = csrf_token(client, path)
    r = client.post(path, data={"title": "Gå 2 km", "version": "²", "csrf_token": token})
    assert r.status_code == 400


@pytest.mark.parametrize(("raw", "bounded"), [("9" * 5000, True), ("9" * 5000, False), ("٣", True), ("²", False)])
def test_a_number_answer_that_is_not_a_plain_number_is_a_clear_error(app, raw, bounded):
    from datetime import date

    from portal.services.catalogue import Question
    from portal.services.filing import check_answer

    question = Question(id="rooms", type="number", label={"da": "Værelser"},
                        min=1 if bounded else None, max=20 if bounded else None)
    with app.test_request_context():
        value, error = check_answer(question, raw, date(2026, 12, 3))
    assert value is None and error
