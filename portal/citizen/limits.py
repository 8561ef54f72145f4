"""Rate limits per citizen (``portal.ratelimit``).

``FILING_RATE_LIMIT`` (Flask-Limiter syntax) bounds both starting drafts and sending
requests. ``MESSAGE_RATE_LIMIT`` is one budget per person for everything that lands in
a caseworker's inbox or mail: replies on cases, uploads, and (registered by their own
areas) plan comments and requests for a joint meeting.
"""

from __future__ import annotations

from flask import Flask

from portal.ratelimit import limit_views, per_user

LIMITED_VIEWS = {"citizen.start": ("FILING_RATE_LIMIT", "citizen-start"),
                 "citizen.submit": ("FILING_RATE_LIMIT", "citizen-file")}
MESSAGES = "messages"  # the shared scope of MESSAGE_RATE_LIMIT
MESSAGE_VIEWS = {"citizen.reply": ("MESSAGE_RATE_LIMIT", MESSAGES),
                 "citizen.attachments": ("MESSAGE_RATE_LIMIT", MESSAGES)}


def init_app(app: Flask) -> None:
    """Limit the filing and message views of ``app``; runs when the citizen blueprint
    is registered."""
    app.config.setdefault("FILING_RATE_LIMIT", "5 per minute;30 per day")
    if not app.config.get("RATELIMIT_ENABLED", True):
        return
    limit_views(app, LIMITED_VIEWS, key_func=per_user)
    limit_message_views(app, MESSAGE_VIEWS)


def limit_message_views(app: Flask, views: dict[str, tuple[str, str]]) -> None:
    """Count POSTs to ``views`` against the person's shared message budget."""
    app.config.setdefault("MESSAGE_RATE_LIMIT", "10 per minute;100 per day")
    if app.config.get("RATELIMIT_ENABLED", True):
        limit_views(app, views, key_func=per_user, methods=["POST"])
