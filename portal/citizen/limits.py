"""Rate limits on filing, per citizen (storage: ``portal.ratelimit``).

One ``Limiter`` per app (Flask-Limiter keeps its storage on the instance), applied to
the citizen views when the blueprint is registered. ``FILING_RATE_LIMIT`` (Flask-Limiter
syntax) bounds both starting drafts and sending requests.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter

from portal.ratelimit import configure_storage

LIMITED_VIEWS = {"citizen.start": "citizen-start", "citizen.submit": "citizen-file"}


def _per_citizen() -> str:
    from portal.auth import current_user

    return f"user:{current_user.id}" if current_user else f"addr:{request.remote_addr}"


def init_app(app: Flask) -> None:
    """Limit the filing views of ``app``; runs when the citizen blueprint is registered."""
    app.config.setdefault("FILING_RATE_LIMIT", "5 per minute;30 per day")
    if not app.config.get("RATELIMIT_ENABLED", True):
        return
    configure_storage(app)
    limiter = Limiter(key_func=_per_citizen, default_limits=[], strategy="fixed-window")
    limiter.init_app(app)

    def limit() -> str:
        return current_app.config["FILING_RATE_LIMIT"]

    for endpoint, scope in LIMITED_VIEWS.items():
        decorate = limiter.shared_limit(limit, scope=scope)
        app.view_functions[endpoint] = decorate(app.view_functions[endpoint])
    app.extensions["citizen_limiter"] = limiter
