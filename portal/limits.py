"""How long each kind of free text may be: the one place the services check and the
forms show (as ``maxlength``, the templates read ``limits``). A text over its limit is
refused by the service with ``too_long``'s message; nothing is cut silently."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

LINE = 200  # a title, a measure, a name: one line
REASON = 2000  # a reason or note the citizen or a colleague reads
MESSAGE = 5000  # a message to the citizen, a comment or proposal on a plan


def too_long(text: str | None, limit: int):
    """The form error for ``text`` longer than ``limit`` characters, else None."""
    if text is not None and len(text) > limit:
        return _l("Write at most %(limit)d characters.", limit=limit)
    return None
