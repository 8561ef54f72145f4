"""Dates, times and amounts by Danish conventions on pages in both languages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from portal import formatting

MOMENT = datetime(2026, 12, 3, 14, 19, 51, tzinfo=UTC)  # 15.19 in Copenhagen


@pytest.mark.parametrize(("locale", "day", "moment", "amount"), [
    ("en", "3 December 2026", "3 December 2026, 15.19", "6.500 kr."),
    ("da", "3. december 2026", "3. december 2026 kl. 15.19", "6.500 kr."),
])
def test_formats_by_danish_conventions(app, locale, day, moment, amount):
    with app.test_request_context("/"):
        from flask import session

        session["locale"] = locale
        assert formatting.dateformat(date(2026, 12, 3)) == day
        assert formatting.datetimeformat(MOMENT) == moment
        assert formatting.datetimeformat(MOMENT, "long") == moment
        assert formatting.amountformat(6500) == amount
        assert "51" not in formatting.datetimeformat(MOMENT, "short")
        assert "CET" not in formatting.datetimeformat(MOMENT, "full")


def test_the_template_filters_are_ours(app):
    assert app.jinja_env.filters["datetimeformat"] is formatting.datetimeformat
    assert app.jinja_env.filters["dateformat"] is formatting.dateformat
