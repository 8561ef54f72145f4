"""One reading of ids and whole numbers from the outside world.

Every id or integer that comes from a URL, a query or a form goes through
``parse_int`` (or, in a route, the ``id`` converter, also registered as ``int``):
ASCII digits only (``str.isdigit`` says yes to "²" and "٣", and ``int`` reads "٣" as
3), no sign unless asked for, and bounded to the column's range, so neither Python's
int-string limit nor a database overflow can turn bad input into a 500.
"""

from __future__ import annotations

import re

from werkzeug.routing import BaseConverter, ValidationError

# Every id and counter column is INTEGER (PostgreSQL int4).
INT_MAX = 2**31 - 1
_UNSIGNED = re.compile(r"[0-9]{1,10}")
_SIGNED = re.compile(r"-?[0-9]{1,10}")


def parse_int(value: object, *, low: int = 0, high: int = INT_MAX, signed: bool = False) -> int | None:
    """``value`` (a str) as an int from ``low`` to ``high``; None for anything else:
    not a str, empty, non-ASCII digits, a sign (unless ``signed``), too many digits,
    out of range. Surrounding whitespace is allowed."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not (_SIGNED if signed else _UNSIGNED).fullmatch(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


def parse_id(value: object) -> int | None:
    """An id (1 .. ``INT_MAX``) from a form or query value, or None."""
    return parse_int(value, low=1)


class IdConverter(BaseConverter):
    """``<id:name>`` (and ``<int:name>``): 1 .. ``INT_MAX`` in ASCII digits; anything
    else does not match the route, so it is a 404 rather than a 500."""

    regex = r"[0-9]{1,10}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValidationError()
        return number

    def to_url(self, value) -> str:
        return str(int(value))


def init_app(app) -> None:
    """Register the converter as ``id`` and in place of werkzeug's ``int`` (which takes
    any Unicode digit and has no upper bound), before any blueprint is registered."""
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["int"] = IdConverter
