"""A plan's days and times are written the page language's way, times in Danish local
time; staff read case statuses as words, not stored values."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from babel.dates import format_date
from sqlalchemy import select

from portal.models import PlanParticipant
from portal.services import plans as svc
from tests.factories import make_case, make_citizen, make_request, make_staff

REGION, AARHUS = "region-1082", "municipality-751"
TODAY = date(2026, 11, 25)


@pytest.fixture
def plan_with_goal(session, clock_at):
    """On ``TODAY``, a plan (the region and Aarhus with consent), a goal due 1 March 2027
    with a measurement on 1 December 2026, and an action due 2 December 2026."""
    clock_at(TODAY)
    citizen = make_citizen(session, municipality_code="751", name="Ane Aarhus")
    request = make_request(session, citizen, service_type_slug="hospital-discharge")
    make_case(session, request, REGION, assignment_index=0)
    make_case(session, request, AARHUS, assignment_index=1)
    session.commit()
    worker = make_staff(session, REGION, name="Rita Region")
    plan = svc.start_plan(session, citizen, consent_to=[REGION, AARHUS], situation="Jeg er udskrevet", today=TODAY)
    goal = svc.add_goal(session, worker, plan.id, {"title": "Gå 1 km", "measure": "Meter", "baseline": "100",
                                                   "target_value": "1000", "due_on": "2027-03-01", "agreed_by": "Ane"})
    svc.record_measurement(session, worker, plan.id, goal.id, value="300", measured_on="2026-12-01",
                           version=goal.version, today=date(2026, 12, 5))
    svc.add_action(session, worker, plan.id, goal.id, {"title": "Genoptræning", "responsible": AARHUS,
                                                       "responsible_name": "Mads Kommune", "due_on": "2026-12-02",
                                                       "status": "planned"})
    return citizen, worker, plan


def main_of(html: str) -> str:
    return html[html.index("<main"):html.index("</main>")]


def test_the_plan_page_gives_danish_dates(client, login, session, plan_with_goal):
    _, worker, plan = plan_with_goal
    login(worker)
    html = main_of(client.get(f"/plans/{plan.id}", headers={"Accept-Language": "da"}).get_data(as_text=True))
    assert "<dd>1. marts 2027</dd>" in html  # the goal is reached by
    desc = re.search(r"<desc [^>]*>(.*?)</desc>", html, re.S).group(1)  # what a screen reader says of the chart
    assert "1. marts 2027" in desc
    assert "<td>1. december 2026</td>" in html  # the measurement
    assert "2. december 2026" in html  # the action's due day
    assert "<td>25. november 2026 (udgangspunkt)</td>" in html  # the chart's starting point: TODAY
    assert "2027-03-01" not in html and "2026-12-01" not in html and "2026-12-02" not in html


def test_the_plan_page_gives_english_dates_in_english(client, login, session, plan_with_goal):
    _, worker, plan = plan_with_goal
    login(worker)
    html = main_of(client.get(f"/plans/{plan.id}", headers={"Accept-Language": "en"}).get_data(as_text=True))
    assert "<dd>March 1, 2027</dd>" in html
    assert "<td>December 1, 2026</td>" in html


def test_review_dates_are_danish_on_the_list_print_and_live_part(client, login, session, plan_with_goal):
    _, worker, plan = plan_with_goal
    review = format_date(plan.review_on, "long", locale="da")  # e.g. "25. maj 2027"
    login(worker)
    for path in ("/plans", f"/plans/{plan.id}", f"/plans/{plan.id}/print"):
        html = main_of(client.get(path, headers={"Accept-Language": "da"}).get_data(as_text=True))
        assert review in html, path
        assert plan.review_on.isoformat() not in html, path


def test_plan_times_are_danish_local_time(client, login, session, plan_with_goal):
    citizen, _, plan = plan_with_goal
    participant = session.scalars(select(PlanParticipant).where(PlanParticipant.plan_id == plan.id,
                                                                PlanParticipant.authority_id == REGION)).one()
    participant.consent_given_at = datetime(2025, 7, 3, 23, 30, tzinfo=UTC)  # 01:30 the next night in Denmark
    session.commit()
    login(citizen)
    html = main_of(client.get(f"/plans/{plan.id}/consent", headers={"Accept-Language": "da"}).get_data(as_text=True))
    assert "04.07.2025 01.30" in html
    assert "2025-07-04 01:30" not in html


def test_staff_read_case_statuses_as_words_on_the_plan(client, login, session, plan_with_goal):
    _, worker, plan = plan_with_goal
    login(worker)
    html = main_of(client.get(f"/plans/{plan.id}", headers={"Accept-Language": "da"}).get_data(as_text=True))
    assert "<td>Afventer</td>" in html
    assert "<td>pending</td>" not in html
