"""One clock: the models' timestamps and the Danish day of deadlines read the same
``portal.clock``, so a test that stands it at a moment sees that moment everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from portal import clock
from portal.models.base import utcnow
from portal.services import deadlines


def test_stored_times_and_danish_days_read_the_one_clock(clock_at):
    clock_at(datetime(2030, 1, 1, 23, 30, tzinfo=UTC))  # already 2 January in Denmark
    assert utcnow() == datetime(2030, 1, 1, 23, 30, tzinfo=UTC)
    assert deadlines.clock() == utcnow()
    assert deadlines.danish_today() == date(2030, 1, 2)


def test_a_date_stands_the_clock_at_noon_danish_time(clock_at):
    clock_at(date(2026, 11, 25))
    assert deadlines.danish_now().hour == 12 and deadlines.danish_today() == date(2026, 11, 25)


def test_the_real_clock_comes_back():
    clock.stand_at(datetime(2000, 1, 1, tzinfo=UTC))
    clock.stand_at(None)
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        clock.stand_at(datetime(2030, 1, 1))
