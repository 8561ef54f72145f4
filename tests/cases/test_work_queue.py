"""The inbox as a work queue: scopes, counts by status, overdue first, search by
reference or citizen name, filters in the URL, assigning several cases at once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import AuditEntry, Case, CaseStatus
from portal.services import cases, inbox
from tests.conftest import csrf_token
from tests.factories import make_case, make_citizen, make_request, make_staff


def odense_morning(session):
    """Five open cases at Odense: one overdue, one due soon, one without a target."""
    today = date.today()
    karen = make_citizen(session, name="Karen Bøgh")
    ole = make_citizen(session, name="Ole Hansen")
    worker = make_staff(session, name="Mette Caseworker")
    colleague = make_staff(session, name="Jonas Colleague")
    late = make_case(session, make_request(session, karen), target_due=today - timedelta(days=2))
    soon = make_case(session, make_request(session, ole), target_due=today + timedelta(days=1))
    later = make_case(session, make_request(session, ole), target_due=today + timedelta(days=20),
                      status=CaseStatus.ACCEPTED, assignee_id=worker.id)
    none = make_case(session, make_request(session, karen))
    mid = make_case(session, make_request(session, ole), target_due=today + timedelta(days=8))
    make_case(session, make_request(session, ole), authority_id="region-1084")  # elsewhere
    session.commit()
    return worker, colleague, [late, soon, mid, later, none]


def test_overdue_first_then_by_target_and_no_target_last(session):
    worker, _colleague, ordered = odense_morning(session)
    queue = inbox.work_queue(session, worker, cases.InboxFilters())
    assert [c.id for c in queue.page.cases] == [c.id for c in ordered]
    assert queue.counts == {"pending": 4, "accepted": 1}
    assert queue.mine == 1 and queue.unassigned == 4


@pytest.mark.parametrize(("q", "hits"), [("karen", 2), ("BØGH", 2), ("hansen", 3), ("%", 0), ("nobody", 0)])
def test_search_by_citizen_name(session, q, hits):
    worker, *_rest = odense_morning(session)
    assert inbox.work_queue(session, worker, cases.InboxFilters(q=q)).page.total == hits


def test_search_by_reference_and_filters_stay_in_the_url(client, session, login):
    worker, _colleague, ordered = odense_morning(session)
    login(worker)
    html = client.get(f"/cases/?q={ordered[0].reference}&assignee=none").get_data(as_text=True)
    assert ordered[0].reference in html and ordered[1].reference not in html
    assert f'value="{ordered[0].reference}"' in html  # the search box keeps what was typed
    assert 'value="none" selected' in html
    assert "Karen Bøgh" in html


def test_assign_two_cases_at_once_without_js(client, session, login):
    worker, colleague, ordered = odense_morning(session)
    login(worker)
    token = csrf_token(client, "/cases/")
    response = client.post("/cases/assign", data={"csrf_token": token, "case": [ordered[0].id, ordered[1].id],
                                                  "assignee": colleague.id, "back": "?assignee=none"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/cases/?assignee=none")
    session.expire_all()
    assert {session.get(Case, c.id).assignee_id for c in ordered[:2]} == {colleague.id}
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "case.assign", AuditEntry.actor_id == worker.id)) == 2


def test_bulk_assign_is_all_or_nothing(session):
    worker, colleague, ordered = odense_morning(session)
    foreign = session.scalar(select(Case).where(Case.authority_id == "region-1084"))
    with pytest.raises(cases.InvalidChange):
        inbox.assign_many(session, worker, [ordered[0].id, foreign.id], colleague.id)
    session.rollback()
    assert session.get(Case, ordered[0].id).assignee_id is None
    outsider = make_staff(session, authority_id="region-1084")
    session.commit()
    with pytest.raises(cases.InvalidChange):
        inbox.assign_many(session, worker, [ordered[0].id], outsider.id)
    with pytest.raises(cases.InvalidChange):
        inbox.assign_many(session, worker, [], colleague.id)


def test_bulk_assign_without_a_person_says_so_and_changes_nothing(client, session, login):
    worker, _colleague, ordered = odense_morning(session)
    login(worker)
    token = csrf_token(client, "/cases/")
    page = client.post("/cases/assign", data={"csrf_token": token, "case": [ordered[0].id], "assignee": ""},
                       follow_redirects=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Choose who gets the cases." in html or "Vælg, hvem der skal have sagerne." in html
    session.expire_all()
    assert session.get(Case, ordered[0].id).assignee_id is None
