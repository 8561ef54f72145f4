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


def init_app(app: Flask) -> None:
    """Limit the filing and message views of ``app``; runs when the citizen blueprint
    is registered. The limits' defaults live in ``portal.config``."""
    if not app.config.get("RATELIMIT_ENABLED", True):
        return
    limit_views(app, LIMITED_VIEWS, key_func=per_user)
    limit_message_views(app, "citizen.reply", "citizen.attachments")


def limit_message_views(app: Flask, *endpoints: str) -> None:
    """Count POSTs to ``endpoints`` against the person's one message budget."""
    if app.config.get("RATELIMIT_ENABLED", True):
        limit_views(app, dict.fromkeys(endpoints, ("MESSAGE_RATE_LIMIT", "messages")), key_func=per_user,
                    methods=["POST"])
