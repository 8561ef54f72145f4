"""Working-day arithmetic: weekends and Danish public holidays are not working days.

Pure functions over dates; the holiday calendar comes from the ``holidays`` package
(Denmark: New Year, Maundy Thursday, Good Friday, Easter Monday, Ascension Day, Whit
Monday, Christmas; Great Prayer Day is no longer a holiday from 2024).
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import holidays


@functools.cache
def _danish_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("DK", years=year).keys())


def is_working_day(day: date) -> bool:
    """True for Monday to Friday when the day is not a Danish public holiday."""
    return day.weekday() < 5 and day not in _danish_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted).

    ``add_working_days(friday, 1)`` is the next Monday (or the next working day after
    a holiday). Zero days gives ``start``. Raises ``ValueError`` for negative days.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def due_date(start: date, days: int, day_kind: str) -> date:
    """The deadline ``days`` after ``start``, counted in ``day_kind`` days.

    ``day_kind`` is "working" (weekends and holidays skipped) or "calendar". Raises
    ``ValueError`` for any other kind.
    """
    if day_kind == "working":
        return add_working_days(start, days)
    if day_kind == "calendar":
        return start + timedelta(days=days)
    raise ValueError(f"unknown day kind {day_kind!r}")
