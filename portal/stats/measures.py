"""The measures of the statistics, as pure functions over plain rows.

No database, no Flask: tests pin every measure on hand-made histories, and the
benchmark computes the same figures from all rows in Python. ``portal.services.stats``
computes the same definitions in SQL for scale; keep the two in step.

Definitions (all times UTC; a day boundary is a UTC date, except for deadlines):

- **Working days** between two moments: the number of working days (Monday to Friday,
  not a Danish public holiday) after the start date up to and including the end date.
  Same day is 0; Friday to Monday is 1.
- **Time to acceptance** of a case: from the request's filing to the (last) acceptance
  (``accepted`` or ``handover_accepted`` event) by the authority that holds the case
  now; falls back to ``Case.accepted_at`` when no such event names that authority.
- **Handover time**: a handover's ``sent_at`` to ``accepted_at``, per (from, to) pair.
- **Time lost between authorities** of a request: the sum of the periods, from filing
  on, in which none of its cases was accepted. A case counts as accepted after an
  ``accepted``/``handover_accepted`` event, as unaccepted again after ``rejected`` or
  ``handover_sent``, and as handled for good after ``decided`` or ``closed`` (events
  after that are ignored). Open-ended periods run to ``as_of``.
- **Misrouting**: a case is misrouted when its first authority rejected it (a
  ``rejected`` event by ``first_authority_id``); the rate is per rule and rule-set version.
- **Deadlines met**: a decided case met its target (limit) when the decision's date in
  Denmark (deadlines are Danish dates) is on or before ``target_due`` (``limit_due``).
  Those hold the current deadlines: the cases service moves them when the case is
  suspended or extended, so the ``deadline_suspended`` events are not added again.
- **Backlog and ageing**: cases not decided or closed; age in working days since filing.
- **Percentiles** are nearest-rank: the smallest value with at least p of the values at
  or below it, so the same figure comes out of a list or a histogram.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

ACCEPT_KINDS = frozenset({"accepted", "handover_accepted"})
UNACCEPT_KINDS = frozenset({"rejected", "handover_sent"})
DANISH_TIME = ZoneInfo("Europe/Copenhagen")
FINAL_KINDS = frozenset({"decided", "closed"})
OPEN_STATUSES = frozenset({"pending", "accepted", "in_progress", "awaiting_citizen"})

# Histogram buckets of durations in working days: 0..10 one by one, then coarser.
# ``BOUNDS[i]`` is the largest value in bucket i; the last bucket is open-ended.
BOUNDS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 30, 45, 60, 90)
N_BUCKETS = len(BOUNDS) + 1
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2060, 12, 31)


@dataclass(frozen=True)
class Event:
    kind: str
    at: datetime
    authority_id: str | None = None
    data: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class CaseRow:
    """One case with what the measures need from its request and its events."""

    id: int
    request_id: int
    filed_at: datetime
    authority_id: str
    first_authority_id: str
    service_type: str = ""
    rule_id: str | None = None
    rule_set_version: int | None = None
    status: str = "pending"
    accepted_at: datetime | None = None
    decided_at: datetime | None = None
    target_due: date | None = None
    limit_due: date | None = None
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class HandoverRow:
    case_id: int
    from_authority_id: str
    to_authority_id: str
    sent_at: datetime
    accepted_at: datetime | None = None


# --- working days -----------------------------------------------------------------


class WorkingCalendar:
    """Working days: Monday to Friday except the given public holidays."""

    def __init__(self, holidays: Iterable[date] = ()):
        self.holidays = frozenset(holidays)
        self._index: dict[date, int] = {}

    @classmethod
    def danish(cls, first_year: int = FIRST_DAY.year, last_year: int = LAST_DAY.year) -> WorkingCalendar:
        """Danish public holidays (the ``holidays`` package) for the years given."""
        import holidays as holiday_data

        return cls(holiday_data.DK(years=range(first_year, last_year + 1)).keys())

    def is_working(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def index(self, day: date) -> int:
        """Working days from 2000-01-01 up to and including ``day`` (a running count).

        Covers 2000..2060; raises ``ValueError`` outside it.
        """
        if not self._index:
            self._fill()
        try:
            return self._index[day]
        except KeyError:
            raise ValueError(f"{day} is outside the working-day calendar") from None

    def _fill(self) -> None:
        count, d, last = 0, FIRST_DAY, LAST_DAY
        while d <= last:
            count += 1 if self.is_working(d) else 0
            self._index[d] = count
            d += timedelta(days=1)

    def between(self, start: datetime | date, end: datetime | date) -> int:
        """Working days after ``start``'s date up to and including ``end``'s date."""
        return self.index(_day(end)) - self.index(_day(start))

    def days(self) -> list[tuple[date, int]]:
        """(day, index) for every day of the calendar."""
        self.index(FIRST_DAY)
        return sorted(self._index.items())


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


# --- percentiles and histograms ----------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered)))
    return ordered[rank - 1]


def bucket_of(working_days: int) -> int:
    """The histogram bucket of a duration in working days."""
    for i, bound in enumerate(BOUNDS):
        if working_days <= bound:
            return i
    return len(BOUNDS)


def histogram(values: Iterable[int]) -> list[int]:
    counts = [0] * N_BUCKETS
    for v in values:
        counts[bucket_of(v)] += 1
    return counts


def histogram_percentile(counts: Sequence[int], p: float) -> int | None:
    """Nearest-rank percentile from a histogram: the upper bound of the bucket that
    holds it (exact for values up to 10 working days). None if empty; for the
    open-ended last bucket, one more than the largest bound."""
    total = sum(counts)
    if total == 0:
        return None
    rank = max(1, math.ceil(p * total))
    seen = 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank:
            return BOUNDS[i] if i < len(BOUNDS) else BOUNDS[-1] + 1
    return None  # pragma: no cover - unreachable: seen reaches total


def share_within(counts: Sequence[int], working_days: int) -> float | None:
    """Share of a histogram at or below ``working_days`` (must be one of ``BOUNDS``)."""
    if working_days not in BOUNDS:
        raise ValueError(f"{working_days} is not a histogram bound: {BOUNDS}")
    total = sum(counts)
    if total == 0:
        return None
    return sum(counts[: BOUNDS.index(working_days) + 1]) / total


@dataclass(frozen=True)
class Summary:
    """Count, median and 90th percentile of one measure over a group."""

    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(len(values), percentile(values, 0.5), percentile(values, 0.9))

    @classmethod
    def of_histogram(cls, counts: Sequence[int]) -> Summary:
        return cls(sum(counts), histogram_percentile(counts, 0.5), histogram_percentile(counts, 0.9))


# --- the measures --------------------------------------------------------------------


def _ordered(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=lambda e: e.at)


def final_acceptance(case: CaseRow) -> datetime | None:
    """When the authority holding the case now (last) accepted it."""
    times = [e.at for e in case.events if e.kind in ACCEPT_KINDS and e.authority_id == case.authority_id]
    return max(times) if times else case.accepted_at


def time_to_acceptance(case: CaseRow) -> timedelta | None:
    """Filing to acceptance by the final authority; None while not accepted."""
    accepted = final_acceptance(case)
    return accepted - case.filed_at if accepted else None


def working_days_to_acceptance(case: CaseRow, calendar: WorkingCalendar) -> int | None:
    accepted = final_acceptance(case)
    return calendar.between(case.filed_at, accepted) if accepted else None


def handover_time(handover: HandoverRow) -> timedelta | None:
    return handover.accepted_at - handover.sent_at if handover.accepted_at else None


def handover_times_by_pair(
    handovers: Iterable[HandoverRow], calendar: WorkingCalendar
) -> dict[tuple[str, str], Summary]:
    """Working days from sending to acceptance, summarised per (from, to) pair."""
    groups: dict[tuple[str, str], list[int]] = {}
    for h in handovers:
        if h.accepted_at is not None:
            groups.setdefault((h.from_authority_id, h.to_authority_id), []).append(
                calendar.between(h.sent_at, h.accepted_at)
            )
    return {pair: Summary.of(values) for pair, values in sorted(groups.items())}


def _acceptance_transitions(case: CaseRow) -> list[tuple[datetime, int]]:
    """(time, state) changes of one case: 0 unaccepted, 1 accepted or handled."""
    changes = [(case.filed_at, 0)]
    for e in _ordered(case.events):
        if e.kind in ACCEPT_KINDS:
            changes.append((e.at, 1))
        elif e.kind in UNACCEPT_KINDS:
            changes.append((e.at, 0))
        elif e.kind in FINAL_KINDS:
            changes.append((e.at, 1))
            break
    return changes


def unaccepted_periods(cases: Sequence[CaseRow], as_of: datetime) -> list[tuple[datetime, datetime]]:
    """The periods in which none of a request's cases was accepted."""
    if not cases:
        return []
    states = {c.id: 0 for c in cases}
    changes = sorted(
        ((at, c.id, state) for c in cases for at, state in _acceptance_transitions(c)),
        key=lambda t: t[0],
    )
    periods = []
    start = min(c.filed_at for c in cases)
    for at, case_id, state in changes:
        before = any(states.values())
        states[case_id] = state
        after = any(states.values())
        if not before and after:
            if at > start:
                periods.append((start, at))
        elif before and not after:
            start = at
    if not any(states.values()) and as_of > start:
        periods.append((start, as_of))
    return periods


def time_lost(cases: Sequence[CaseRow], as_of: datetime) -> timedelta:
    """Time lost between authorities for one request (its cases)."""
    return sum((end - start for start, end in unaccepted_periods(cases, as_of)), timedelta())


def working_days_lost(cases: Sequence[CaseRow], as_of: datetime, calendar: WorkingCalendar) -> int:
    return sum(calendar.between(s, e) for s, e in unaccepted_periods(cases, as_of))


def rejected_by_first(case: CaseRow) -> bool:
    return any(e.kind == "rejected" and e.authority_id == case.first_authority_id for e in case.events)


@dataclass(frozen=True)
class Rate:
    count: int
    hits: int

    @property
    def share(self) -> float | None:
        return self.hits / self.count if self.count else None


def misrouting_by_rule(cases: Iterable[CaseRow]) -> dict[tuple[str | None, int | None], Rate]:
    """Share of cases rejected by their first authority, per (rule, rule-set version)."""
    counts: dict[tuple[str | None, int | None], list[int]] = {}
    for c in cases:
        slot = counts.setdefault((c.rule_id, c.rule_set_version), [0, 0])
        slot[0] += 1
        slot[1] += rejected_by_first(c)
    return {k: Rate(n, hits) for k, (n, hits) in sorted(counts.items(), key=lambda kv: (str(kv[0][0]), kv[0][1] or 0))}


def suspended_days(case: CaseRow) -> int:
    return sum(int(e.data.get("days") or 0) for e in case.events if e.kind == "deadline_suspended")


def decision_time(case: CaseRow) -> datetime | None:
    times = [e.at for e in case.events if e.kind == "decided"]
    return min(times) if times else case.decided_at


def danish_date(at: datetime) -> date:
    """The date in Denmark of a (UTC) moment: a decision at 23:30 UTC in summer is
    made at 01:30 the next day, Danish time."""
    return at.astimezone(DANISH_TIME).date()


def deadlines_met(case: CaseRow) -> tuple[bool | None, bool | None]:
    """(within target, within limit) for a decided case; None where not applicable."""
    decided = decision_time(case)
    if decided is None:
        return None, None
    target, limit = case.target_due, case.limit_due
    day = danish_date(decided)
    return (day <= target if target else None, day <= limit if limit else None)


def is_open(case: CaseRow) -> bool:
    return case.status in OPEN_STATUSES


def ageing(cases: Iterable[CaseRow], today: date, calendar: WorkingCalendar) -> Summary:
    """Backlog (count) and age in working days of the open cases."""
    return Summary.of([calendar.between(c.filed_at, today) for c in cases if is_open(c)])


def is_stuck(case: CaseRow, today: date) -> bool:
    """Open and past its target date (suspensions have moved it already)."""
    return is_open(case) and case.target_due is not None and case.target_due < today


def month_of(day: date) -> date:
    return day.replace(day=1)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())
