"""Working days skip weekends and Danish public holidays (the expected answer date on
the receipt counts them with ``portal.services.deadlines``)."""

from __future__ import annotations

from datetime import date

import pytest

from portal.services.deadlines import add_days, is_working_day


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 11, 23), 0, date(2026, 11, 23)),  # zero days: the same day
        (date(2026, 11, 23), 1, date(2026, 11, 24)),  # Monday -> Tuesday
        (date(2026, 11, 27), 1, date(2026, 11, 30)),  # Friday -> Monday
        (date(2026, 11, 28), 1, date(2026, 11, 30)),  # Saturday -> Monday
        (date(2026, 11, 23), 10, date(2026, 12, 7)),  # two whole weeks
        (date(2026, 12, 23), 1, date(2026, 12, 24)),  # 24 December is not a public holiday
        (date(2026, 12, 24), 1, date(2026, 12, 28)),  # 25 and 26 December, then Sunday
        (date(2026, 3, 31), 1, date(2026, 4, 1)),
        (date(2026, 4, 1), 1, date(2026, 4, 7)),  # Maundy Thursday, Good Friday, weekend, Easter Monday
        (date(2026, 5, 13), 1, date(2026, 5, 15)),  # Ascension Day 14 May 2026
        (date(2026, 5, 22), 1, date(2026, 5, 26)),  # Whit Monday 25 May 2026
        (date(2026, 12, 31), 1, date(2027, 1, 4)),  # New Year's Day, then a weekend
    ],
)
def test_add_working_days(start, days, expected):
    assert add_days(start, days) == expected


def test_christmas_eve_is_not_a_public_holiday_but_christmas_day_is():
    # holidays' DK calendar: 24 December is not an official public holiday.
    assert is_working_day(date(2026, 12, 24))
    assert not is_working_day(date(2026, 12, 25))
    assert not is_working_day(date(2026, 12, 26))


def test_great_prayer_day_is_a_working_day_since_2024():
    assert is_working_day(date(2026, 5, 1))  # a Friday, and no longer a holiday


def test_calendar_days_count_every_day_and_unknown_kinds_fail():
    assert add_days(date(2026, 11, 27), 7, "calendar") == date(2026, 12, 4)
    assert add_days(date(2026, 11, 27), 1, "working") == date(2026, 11, 30)
    with pytest.raises(ValueError):
        add_days(date(2026, 11, 27), 1, "lunar")
