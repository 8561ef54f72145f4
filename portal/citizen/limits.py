"""Rate limits on filing, per citizen (``portal.ratelimit``).

``FILING_RATE_LIMIT`` (Flask-Limiter syntax) bounds both starting drafts and sending
requests.
"""

from __future__ import annotations

from flask import Flask, request

from portal.ratelimit import limit_views

LIMITED_VIEWS = {"citizen.start": ("FILING_RATE_LIMIT", "citizen-start"),
                 "citizen.submit": ("FILING_RATE_LIMIT", "citizen-file")}


def _per_citizen() -> str:
    from portal.auth import current_user

    return f"user:{current_user.id}" if current_user else f"addr:{request.remote_addr}"


def init_app(app: Flask) -> None:
    """Limit the filing views of ``app``; runs when the citizen blueprint is registered."""
    app.config.setdefault("FILING_RATE_LIMIT", "5 per minute;30 per day")
    if not app.config.get("RATELIMIT_ENABLED", True):
        return
    limit_views(app, LIMITED_VIEWS, key_func=_per_citizen)
