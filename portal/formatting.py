"""Dates, times and numbers on pages, by Danish conventions in both languages.

English pages use Babel's ``en_DK`` ("3 December 2026", 24-hour time, "6.500"), so a
Dane never reads 12/3 as 12 March. Times are shown in Copenhagen time, without seconds
and without a zone name. These replace Flask-Babel's Jinja filters of the same names.
"""

from __future__ import annotations

from datetime import date, datetime

from babel import dates, numbers
from flask import Flask
from flask_babel import get_locale, to_user_timezone


def format_locale() -> str:
    """The Babel locale for formatting: ``en_DK`` on English pages, else ``da_DK``."""
    language = getattr(get_locale(), "language", None) or "da"
    return "en_DK" if language == "en" else "da_DK"


def _local(value: datetime) -> datetime:
    return to_user_timezone(value) if value.tzinfo is not None else value


def dateformat(value: date | datetime | None, format: str = "long") -> str:
    """A date: "3 December 2026" / "3. december 2026" (``short``: 03/12/2026, 03.12.2026)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _local(value).date()
    return dates.format_date(value, format, locale=format_locale())


def timeformat(value: datetime | None, format: str = "short") -> str:
    """A time of day, 24-hour, no seconds: "15.19"."""
    if value is None:
        return ""
    return dates.format_time(_local(value), "HH.mm", locale=format_locale())


def datetimeformat(value: datetime | None, format: str = "medium") -> str:
    """A moment: "3 December 2026, 15.19" / "3. december 2026 kl. 15.19"; ``short`` gives
    the numeric date. Never seconds or a zone name."""
    if value is None:
        return ""
    locale = format_locale()
    if format == "short":
        return dates.format_datetime(_local(value), "short", locale=locale)
    day = dateformat(value, "long")
    joiner = " kl. " if locale == "da_DK" else ", "
    return f"{day}{joiner}{timeformat(value)}"


def numberformat(value: float | int | None, digits: int = 0) -> str:
    """A number with Danish grouping and decimals: "6.500", "2,5"."""
    if value is None:
        return ""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return numbers.format_decimal(value, format=pattern, locale=format_locale())


def amountformat(value: float | int | None) -> str:
    """An amount in kroner: "6.500 kr." in both languages."""
    if value is None:
        return ""
    digits = 0 if float(value).is_integer() else 2
    return f"{numberformat(value, digits)} kr."


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        dateformat=dateformat, datetimeformat=datetimeformat, timeformat=timeformat,
        numberformat=numberformat, amountformat=amountformat,
    )
