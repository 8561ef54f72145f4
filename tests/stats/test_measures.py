"""The measures on a hand-made history with known answers (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from portal.stats import measures as m
from tests.stats import history as h

CAL = m.WorkingCalendar.danish()


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 11, 2), date(2026, 11, 2), 0),  # same day
        (date(2026, 11, 6), date(2026, 11, 9), 1),  # Friday to Monday
        (date(2026, 11, 2), date(2026, 11, 10), 6),
        (date(2026, 12, 23), date(2026, 12, 28), 2),  # 24th, 28th; 25th and 26th are holidays
        (date(2026, 4, 1), date(2026, 4, 7), 1),  # Easter: 2, 3, 6 April are holidays
    ],
)
def test_working_days_skip_weekends_and_danish_holidays(start, end, expected):
    assert CAL.between(start, end) == expected


def test_time_to_acceptance_counts_to_the_final_authoritys_acceptance():
    assert m.time_to_acceptance(h.CASE_A) == timedelta(days=8)  # not 101's acceptance on the 5th
    assert m.time_to_acceptance(h.CASE_B) == timedelta(hours=6)
    assert m.time_to_acceptance(h.CASE_D) is None
    got = {c.id: m.working_days_to_acceptance(c, CAL) for c in h.CASES}
    assert {k: v for k, v in got.items() if v is not None} == h.WD_TO_ACCEPTANCE
    summary = m.Summary.of(list(h.WD_TO_ACCEPTANCE.values()))  # [0, 1, 2, 3, 6]
    assert (summary.count, summary.median, summary.p90) == (5, 2, 6)


def test_handover_time_per_pair_of_authorities():
    pairs = m.handover_times_by_pair(h.HANDOVERS, CAL)
    assert pairs == {
        (h.M101, h.UDK): m.Summary(1, 2, 2),
        (h.M461, h.M101): m.Summary(1, 2, 2),
    }
    assert m.handover_time(h.HANDOVERS[0]) == timedelta(days=2, hours=2)
    assert m.handover_time(m.HandoverRow(1, h.M461, h.M101, h.t(3))) is None


def test_time_lost_sums_the_gaps_of_a_case_handed_over_twice():
    periods = m.unaccepted_periods([h.CASE_A], h.AS_OF)
    assert periods == [(h.t(2), h.t(5, 12)), (h.t(6, 9), h.t(10, 9))]
    assert m.time_lost([h.CASE_A], h.AS_OF) == timedelta(days=7, hours=3)
    assert m.working_days_lost([h.CASE_A], h.AS_OF, CAL) == 5


def test_time_lost_of_every_request_including_open_and_multi_authority():
    by_request: dict[int, list] = {}
    for c in h.CASES:
        by_request.setdefault(c.request_id, []).append(c)
    got = {rid: m.working_days_lost(cases, h.AS_OF, CAL) for rid, cases in by_request.items()}
    assert got == h.WD_LOST_BY_REQUEST
    # E: lost only until the first of its two authorities accepted; E1's later rejection
    # costs nothing because E2 still holds the request.
    assert m.time_lost(by_request[5], h.AS_OF) == timedelta(days=1)
    # D is still waiting: the open period runs to as_of.
    assert m.time_lost(by_request[4], h.AS_OF) == timedelta(days=10)


def test_events_after_the_decision_do_not_reopen_the_gap():
    late = m.CaseRow(**{**h.CASE_B.__dict__, "events": (*h.CASE_B.events, m.Event("rejected", h.t(25), h.M461))})
    assert m.time_lost([late], h.t(30)) == timedelta(hours=6)


def test_misrouting_rate_per_rule_and_rule_set_version():
    rates = m.misrouting_by_rule(h.CASES)
    assert {k: (r.count, r.hits) for k, r in rates.items()} == {
        ("cash-benefit", 1): (1, 0),
        ("discharge", 1): (2, 1),
        ("home-care", 1): (2, 1),
        ("home-care", 2): (1, 0),
    }
    assert rates[("home-care", 1)].share == 0.5


def test_deadlines_met_use_the_deadlines_the_suspension_already_moved():
    # B's deadlines (Mon 16, Fri 20) were moved by its suspension to Mon 23, Fri 27.
    assert m.suspended_days(h.CASE_B) == 5
    assert m.deadlines_met(h.CASE_B) == (True, True)
    before_suspension = m.CaseRow(**{**h.CASE_B.__dict__, "target_due": date(2026, 11, 16),
                                     "limit_due": date(2026, 11, 20)})
    assert m.deadlines_met(before_suspension) == (False, True)
    assert m.deadlines_met(h.CASE_C) == (False, True)
    assert m.deadlines_met(h.CASE_A) == (True, True)
    assert m.deadlines_met(h.CASE_D) == (None, None)


def test_a_suspension_is_not_counted_twice():
    # Target Mon 9, suspended 5 working days: the cases service stored Mon 16.
    case = m.CaseRow(
        id=9, request_id=9, filed_at=h.FILED, authority_id=h.M461, first_authority_id=h.M461, status="decided",
        decided_at=h.t(19), target_due=date(2026, 11, 16), limit_due=date(2026, 11, 30),
        events=(m.Event("accepted", h.t(3), h.M461), m.Event("deadline_suspended", h.t(4), h.M461, {"days": 5}),
                m.Event("decided", h.t(19), h.M461)),
    )
    assert m.deadlines_met(case) == (False, True)  # decided Thu 19, after Mon 16


@pytest.mark.parametrize(
    ("decided_at", "met"),
    [
        (datetime(2026, 6, 15, 21, 30, tzinfo=UTC), True),  # 23:30 in Denmark, on the target day
        (datetime(2026, 6, 15, 23, 30, tzinfo=UTC), False),  # 01:30 on the 16th in Denmark
        (datetime(2026, 1, 15, 22, 30, tzinfo=UTC), True),  # winter: 23:30 in Denmark
        (datetime(2026, 1, 15, 23, 30, tzinfo=UTC), False),  # winter: 00:30 on the 16th
    ],
)
def test_the_decision_day_is_the_date_in_denmark(decided_at, met):
    target = decided_at.date()
    case = m.CaseRow(id=9, request_id=9, filed_at=decided_at - timedelta(days=30), authority_id=h.M461,
                     first_authority_id=h.M461, status="decided", decided_at=decided_at, target_due=target,
                     limit_due=target)
    assert m.deadlines_met(case) == (met, met)


def test_backlog_ageing_and_stuck_cases():
    summary = m.ageing(h.CASES, h.TODAY, CAL)
    assert (summary.count, summary.median, summary.p90) == (3, 8, 8)  # D, E1, E2
    assert [c.id for c in h.CASES if m.is_stuck(c, h.TODAY)] == [4]


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 0.5, None), ([5], 0.9, 5), ([1, 2, 3, 4], 0.5, 2), ([1, 2, 3, 4], 0.9, 4), (list(range(1, 11)), 0.9, 9)],
)
def test_nearest_rank_percentile(values, p, expected):
    assert m.percentile(values, p) == expected


def test_histogram_gives_the_same_percentiles_up_to_ten_working_days():
    values = [0, 0, 1, 2, 3, 3, 7, 9, 10, 10, 4]
    counts = m.histogram(values)
    for p in (0.5, 0.9, 0.1, 1.0):
        assert m.histogram_percentile(counts, p) == m.percentile(values, p)
    assert m.histogram_percentile(m.histogram([12, 13, 100]), 0.5) == 15  # bucket 11..15
    assert m.histogram_percentile(m.histogram([100]), 0.5) == 91  # open-ended bucket
    assert m.share_within(counts, 2) == 4 / 11
    with pytest.raises(ValueError):
        m.share_within(counts, 12)
