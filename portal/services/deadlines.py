"""Deadlines counted in working days (weekends and Danish public holidays skipped) or
calendar days, and the Danish date of "today".

Danish public holidays come from the ``holidays`` package (it knows that Store
Bededag stopped being a holiday in 2024). Nothing here touches the database.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from portal import clock as portal_clock

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
WORKING = "working"
CALENDAR = "calendar"


@cache
def danish_holidays(year: int) -> frozenset[date]:
    """The Danish public holidays of ``year`` (looked up once per process)."""
    return frozenset(holidays.country_holidays("DK", years=year).keys())


def is_working_day(day: date) -> bool:
    """True on Monday to Friday when the day is not a Danish public holiday."""
    return day.weekday() < 5 and day not in danish_holidays(day.year)


def add_days(start: date, days: int, day_kind: str = WORKING) -> date:
    """The day ``days`` days after ``start``, counting working or calendar days.

    Working days: the first counted day is the next working day after ``start`` (a
    request filed on a Friday with 1 working day is due on Monday). Negative ``days``
    count backwards. Raises ``ValueError`` for an unknown ``day_kind``.
    """
    if day_kind == CALENDAR:
        return start + timedelta(days=days)
    if day_kind != WORKING:
        raise ValueError(f"unknown day kind {day_kind!r}")
    step = 1 if days >= 0 else -1
    day, left = start, abs(days)
    while left:
        day += timedelta(days=step)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if end < start)."""
    if end < start:
        return -working_days_between(end, start)
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def clock() -> datetime:
    """Now, in UTC, from the portal's one clock (portal/clock.py), which the models'
    ``utcnow`` default reads too. Tests stand it at a given moment with the
    ``clock_at`` fixture, such as just after midnight Danish time on a UTC server."""
    return portal_clock.now()


def danish_now(now: datetime | None = None) -> datetime:
    """Now (or ``now``) as Danish local time."""
    return (now or clock()).astimezone(COPENHAGEN)


def danish_today(now: datetime | None = None) -> date:
    """Today's date in Denmark (deadlines are Danish dates, not UTC dates). Use it,
    never ``date.today()``: a server on UTC is still on yesterday for the first hour
    or two of the Danish day."""
    return danish_now(now).date()
