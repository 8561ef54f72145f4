"""The portal's one clock for dates and times.

Every "now" the portal stores or reasons with comes from ``now()``: the models'
``utcnow`` default, ``deadlines.clock`` and so ``danish_today``. Production reads the
real time; a test stands the clock at a fixed moment with ``stand_at`` (the
``clock_at`` fixture in tests/conftest.py does this and puts it back afterwards), so
no test depends on the day it happens to run.

(Idle and absolute session limits use the app's ``config["CLOCK"]``, epoch seconds,
see portal/auth/sessions.py; that is a separate, per-app clock.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """Now, in UTC, timezone-aware: the real time unless a test has stood the clock."""
    return _source() if _source is not None else datetime.now(UTC)


def stand_at(moment: datetime | Callable[[], datetime] | None) -> None:
    """Make ``now()`` answer ``moment`` (a timezone-aware time, or a function giving
    one); ``None`` puts the real clock back. Raises ValueError for a naive time."""
    global _source
    if moment is None or callable(moment):
        _source = moment
        return
    if moment.tzinfo is None:
        raise ValueError("the clock needs a timezone-aware time")
    fixed = moment.astimezone(UTC)
    _source = lambda: fixed  # noqa: E731
