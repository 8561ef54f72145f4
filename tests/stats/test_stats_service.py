"""The statistics in the database: the same hand-made history, inserted as rows, gives
the same figures through the SQL refresh and the daily aggregates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import Case, CaseEvent, Handover, Role, TargetMeasure
from portal.models.stats import stats_case_facts, stats_daily
from portal.services import cases, stats
from portal.stats import measures as m
from tests import factories
from tests.stats import history as h


def insert_history(session, cases=h.CASES, handovers=h.HANDOVERS) -> dict[int, Case]:
    """Insert the history's requests, cases, events and handovers; returns id -> Case."""
    citizen = factories.make_citizen(session)
    requests, rows = {}, {}
    for c in cases:
        if c.request_id not in requests:
            requests[c.request_id] = factories.make_request(
                session, citizen, service_type_slug=c.service_type, filed_at=c.filed_at, filed_on=c.filed_at.date()
            )
        index = sum(1 for x in rows.values() if x.request_id == requests[c.request_id].id)
        case = factories.make_case(
            session, requests[c.request_id], authority_id=c.authority_id, first_authority_id=c.first_authority_id,
            assignment_index=index, rule_id=c.rule_id, rule_set_version=c.rule_set_version, status=c.status,
            opened_at=c.filed_at, decided_at=c.decided_at, target_due=c.target_due, limit_due=c.limit_due,
        )
        rows[c.id] = case
        for e in c.events:
            session.add(CaseEvent(case_id=case.id, kind=e.kind, at=e.at, authority_id=e.authority_id, data=dict(e.data)))
        session.flush()
    for ho in handovers:
        session.add(Handover(case_id=rows[ho.case_id].id, from_authority_id=ho.from_authority_id,
                             to_authority_id=ho.to_authority_id, reason="not ours", sent_at=ho.sent_at,
                             accepted_at=ho.accepted_at))
    session.flush()
    return rows


@pytest.fixture
def history(session):
    rows = insert_history(session)
    stats.refresh(session, as_of=h.AS_OF)
    return rows


def facts_by_history_id(session, rows):
    by_case = {r.case_id: r for r in session.execute(select(stats_case_facts))}
    return {hid: by_case[case.id] for hid, case in rows.items()}


def test_facts_in_sql_match_the_python_measures(session, history):
    facts = facts_by_history_id(session, history)
    cal = m.WorkingCalendar.danish()
    for c in h.CASES:
        f = facts[c.id]
        assert f.accepted_wd == m.working_days_to_acceptance(c, cal), c.id
        assert f.rejected_first == m.rejected_by_first(c), c.id
        assert (f.met_target, f.met_limit) == m.deadlines_met(c), c.id
        assert (f.target_on, f.limit_on) == (c.target_due, c.limit_due), c.id
        assert f.is_open == m.is_open(c), c.id
    counted = {hid: f for hid, f in facts.items() if f.counts_request}
    assert {h.CASES[hid - 1].request_id: f.lost_wd for hid, f in counted.items()} == h.WD_LOST_BY_REQUEST
    assert facts[1].lost_s == pytest.approx((7 * 24 + 3) * 3600, abs=1)
    assert facts[2].accepted_s == pytest.approx(6 * 3600, abs=1)
    assert facts[1].region_id is None and facts[6].region_id == h.REGION
    assert facts[2].region_id == "region-1083"  # Odense is in Region Syddanmark


def test_a_suspension_the_cases_service_made_is_not_counted_twice(session):
    # Target Mon 9 Nov; a suspension of 5 working days moves it to Mon 16; decided Thu 19.
    citizen = factories.make_citizen(session)
    request = factories.make_request(session, citizen, filed_at=h.FILED, filed_on=h.FILED.date())
    case = factories.make_case(session, request, authority_id=h.M461, status="accepted", opened_at=h.FILED,
                               target_due=date(2026, 11, 9), limit_due=date(2026, 11, 30))
    worker = factories.make_staff(session, authority_id=h.M461)
    cases.change_deadline(session, worker, case.id, kind="suspend", days=5, reason="Venter på lægeerklæring")
    assert case.target_due == date(2026, 11, 16)
    session.add(CaseEvent(case_id=case.id, kind="decided", at=h.t(19), authority_id=h.M461))
    case.status, case.decided_at = "decided", h.t(19)
    session.flush()
    stats.refresh(session, as_of=h.t(20))
    fact = session.execute(select(stats_case_facts).where(stats_case_facts.c.case_id == case.id)).one()
    assert (fact.target_on, fact.limit_on) == (date(2026, 11, 16), date(2026, 12, 7))
    assert (fact.met_target, fact.met_limit) == (False, True)


@pytest.mark.parametrize(
    ("decided_at", "decided_on", "met"),
    [
        (datetime(2026, 6, 15, 21, 30, tzinfo=UTC), date(2026, 6, 15), True),  # 23:30 Danish time
        (datetime(2026, 6, 15, 23, 30, tzinfo=UTC), date(2026, 6, 16), False),  # 01:30 the next day
        (datetime(2026, 1, 15, 23, 30, tzinfo=UTC), date(2026, 1, 16), False),  # winter: 00:30 the next day
    ],
)
def test_the_decision_day_compared_with_the_target_is_the_date_in_denmark(session, decided_at, decided_on, met):
    row = m.CaseRow(id=1, request_id=1, filed_at=decided_at - timedelta(days=20), authority_id=h.M461,
                    first_authority_id=h.M461, service_type="home-care", status="decided", decided_at=decided_at,
                    target_due=date(2026, decided_at.month, 15), limit_due=date(2026, decided_at.month, 15),
                    events=(m.Event("decided", decided_at, h.M461),))
    rows = insert_history(session, cases=(row,), handovers=())
    stats.refresh(session, as_of=decided_at + timedelta(days=1))
    fact = facts_by_history_id(session, rows)[1]
    assert fact.decided_on == decided_on
    assert (fact.met_target, fact.met_limit) == (met, met) == m.deadlines_met(row)


def test_dashboard_figures_from_the_daily_aggregates(session, history):
    board = stats.dashboard(session, stats.Filters(), today=h.TODAY)
    total = board.total
    assert (total.cases, total.accepted, total.requests) == (6, 5, 5)
    s = total.to_acceptance
    assert (s.count, s.median, s.p90) == (5, 2, 6)
    lost = total.lost
    assert (lost.count, lost.median, lost.p90) == (5, 2, 8)  # [0, 1, 2, 5, 8]
    assert (total.rejected_first, total.cases) == (2, 6)
    assert (total.met_target, total.with_target, total.met_limit, total.with_limit) == (2, 3, 3, 3)
    assert total.open == 3
    assert list(board.by_period) == [date(2026, 11, 1)]
    assert set(board.by_service) == {"home-care", "cash-benefit", "discharge-help"}
    assert board.by_service["home-care"].to_acceptance.median == 2  # [0, 2, 6]
    assert set(board.by_region) == {None, "region-1083"}
    assert board.by_region[None].cases == 1  # A ended at Udbetaling Danmark (state)
    # Handover time per pair of authorities.
    assert (board.handovers_total.sent, board.handovers_total.summary.median) == (2, 2)
    pairs = stats.handover_pairs(session, stats.Filters())
    assert {pair: (f.accepted, f.summary.median) for pair, f in pairs.items()} == {
        (h.M461, h.M101): (1, 2), (h.M101, h.UDK): (1, 2),
    }
    # Misrouting per rule and rule-set version, worst first.
    assert stats.misrouting_by_rule(session, stats.Filters()) == [("discharge", 1, 2, 1), ("home-care", 1, 2, 1), ("cash-benefit", 1, 1, 0), ("home-care", 2, 1, 0)]
    # Backlog and ageing: D, E1, E2 open, 8 working days old on the 12th.
    assert (board.backlog.count, board.backlog.median, board.backlog.p90) == (3, 8, 8)
    assert [c["case_id"] for c in board.stuck] == [history[4].id]


def test_filters_narrow_every_figure(session, history):
    board = stats.dashboard(session, stats.Filters(service_type="home-care", authority_id=h.M461), today=h.TODAY)
    assert board.total.cases == 2  # B and C (A ended elsewhere)
    assert stats.dashboard(session, stats.Filters(region_id="region-1084"), today=h.TODAY).total.cases == 0
    assert stats.dashboard(session, stats.Filters(date_from=date(2026, 12, 1)), today=h.TODAY).total.cases == 0
    weekly = stats.dashboard(session, stats.Filters(grain="week"), today=h.TODAY)
    assert list(weekly.by_period) == [date(2026, 11, 2)]


def test_drill_down_is_scoped_and_lists_stuck_cases_first(session, history):
    coordinator = factories.make_staff(session, authority_id=h.M461, role=Role.COORDINATOR)
    admin = factories.make_staff(session, authority_id=h.M101, role=Role.ADMINISTRATOR)
    rows = stats.cases_behind(session, stats.Filters(), coordinator, period=date(2026, 11, 1), today=h.TODAY)
    assert rows[0]["case_id"] == history[4].id and rows[0]["stuck"] == 1
    assert {r["authority_id"] for r in rows} == {h.M461}
    assert len(rows) == 4  # B, C, D, E1: not A (Udbetaling Danmark) nor E2 (region)
    everything = stats.cases_behind(session, stats.Filters(), admin, today=h.TODAY)
    assert len(everything) == 6
    bucket = stats.cases_behind(session, stats.Filters(), admin, bucket=m.bucket_of(2), today=h.TODAY)
    assert [r["case_id"] for r in bucket] == [history[3].id]
    citizen = factories.make_citizen(session)
    with pytest.raises(PermissionError):
        stats.cases_behind(session, stats.Filters(), citizen)


def test_benchmark_withholds_figures_below_the_minimum_count(session, history):
    rows = stats.benchmark(session, stats.Filters(), "to_acceptance", min_count=3)
    assert len(rows) == 98
    odense = next(r for r in rows if r.authority_id == h.M461)
    assert (odense.rank, odense.count, odense.value) == (1, 3, 1)  # B 0, E1 1, C 2
    assert all(r.value is None and r.rank is None for r in rows if r.authority_id != h.M461)
    strict = stats.benchmark(session, stats.Filters(), "to_acceptance", min_count=4)
    assert all(r.value is None for r in strict)
    share = stats.benchmark(session, stats.Filters(), "target_share", min_count=2)
    odense = next(r for r in share if r.authority_id == h.M461)
    assert (odense.count, odense.value) == (2, 0.5)  # B met (suspended), C missed


def test_refresh_is_incremental_and_idempotent(session, history):
    before = session.execute(select(stats_daily)).all()
    again = stats.refresh(session, as_of=h.AS_OF)
    assert again.requests == 2  # the requests with an open case: D and E
    assert session.execute(select(stats_daily)).all() == before
    # D gets accepted: only its request is recomputed, and the figure moves.
    session.add(CaseEvent(case_id=history[4].id, kind="accepted", at=h.t(13), authority_id=h.M461))
    session.flush()
    stats.refresh(session, as_of=h.t(13))
    d = session.execute(select(stats_case_facts).where(stats_case_facts.c.case_id == history[4].id)).one()
    assert (d.accepted_wd, d.lost_wd) == (9, 9)
    full = stats.refresh(session, full=True, as_of=h.t(13))
    assert full.requests == 5
    assert session.execute(select(stats_case_facts).where(stats_case_facts.c.case_id == history[4].id)).one().accepted_wd == 9


def test_targets_show_current_figure_trend_and_on_track(session, history):
    coordinator = factories.make_staff(session, authority_id=h.M461, role=Role.COORDINATOR)
    admin = factories.make_staff(session, authority_id=h.M101, role=Role.ADMINISTRATOR)
    handover = stats.create_target(session, admin, measure="handover_within", threshold_percent=90,
                                   within_days=2, due_on=date(2027, 6, 30), authority_id=None, service_type=None)
    decided = stats.create_target(session, coordinator, measure="decided_within_target", threshold_percent=90,
                                  within_days=None, due_on=date(2027, 6, 30), authority_id=h.M461, service_type=None)
    misrouted = stats.create_target(session, admin, measure="misrouted_at_most", threshold_percent=10,
                                    within_days=None, due_on=date(2027, 6, 30), authority_id=None, service_type="home-care")
    got = {s.target.id: s for s in stats.target_statuses(session, [handover, decided, misrouted], today=h.TODAY)}
    assert (got[handover.id].current, got[handover.id].count, got[handover.id].on_track) == (100.0, 2, True)
    assert (got[decided.id].current, got[decided.id].count, got[decided.id].on_track) == (50.0, 2, False)
    assert got[misrouted.id].current == pytest.approx(100 / 3) and got[misrouted.id].on_track is False
    assert got[handover.id].trend[-1] == (date(2026, 11, 1), 100.0)
    assert len(got[handover.id].trend) == 6 and got[handover.id].trend[0] == (date(2026, 6, 1), None)
    assert decided.measure is TargetMeasure.DECIDED_WITHIN_TARGET
    with pytest.raises(stats.TargetError) as bad:
        stats.create_target(session, coordinator, measure="handover_within", threshold_percent=90, within_days=12,
                            due_on=date(2027, 6, 30), authority_id=None, service_type=None)
    assert bad.value.field == "within_days"
    # A coordinator steers only their own authority; an empty choice means it.
    with pytest.raises(stats.TargetError) as bad:
        stats.create_target(session, coordinator, measure="decided_within_limit", threshold_percent=90,
                            within_days=None, due_on=date(2027, 6, 30), authority_id=h.M101, service_type=None)
    assert bad.value.field == "authority_id"
    own = stats.create_target(session, coordinator, measure="decided_within_limit", threshold_percent=90,
                              within_days=None, due_on=date(2027, 6, 30), authority_id=None, service_type=None)
    assert own.authority_id == h.M461
    with pytest.raises(PermissionError):
        stats.create_target(session, factories.make_staff(session), measure="handover_within", threshold_percent=90,
                            within_days=2, due_on=date(2027, 6, 30), authority_id=None, service_type=None)


def test_public_results_show_no_figure_below_the_minimum(session, history):
    rows = stats.public_results(session, min_count=2)
    by_key = {(r.authority_id, r.service_type): r for r in rows}
    home = by_key[(h.M461, "home-care")]
    assert home.shown and (home.cases, home.median_days, home.target_share) == (2, 0, 50.0)
    cash = by_key[(h.M461, "cash-benefit")]
    assert not cash.shown and (cash.cases, cash.median_days, cash.target_share) == (0, None, None)


def test_monthly_rollup_and_daily_rows_give_the_same_figures(session, history):
    monthly = stats.dashboard(session, stats.Filters(date_from=date(2026, 11, 1), date_to=date(2026, 11, 30)), today=h.TODAY)
    daily = stats.dashboard(session, stats.Filters(date_from=date(2026, 11, 2), date_to=date(2026, 11, 29)), today=h.TODAY)
    assert stats._source(stats.Filters(date_from=date(2026, 11, 1), date_to=date(2026, 11, 30)))[1] == "month"
    assert stats._source(stats.Filters(date_from=date(2026, 11, 2)))[1] == "day"
    assert monthly.total.values == daily.total.values
    assert stats.service_types(session) == ["cash-benefit", "discharge-help", "home-care"]
