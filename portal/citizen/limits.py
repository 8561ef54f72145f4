"""Rate limits on filing, per citizen, counted in the app's Redis.

One ``Limiter`` per app (Flask-Limiter keeps its storage on the instance), applied to
the citizen views when the blueprint is registered. ``FILING_RATE_LIMIT`` (Flask-Limiter
syntax) bounds both starting drafts and sending requests.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter

LIMITED_VIEWS = {"citizen.start": "citizen-start", "citizen.submit": "citizen-file"}


def _per_citizen() -> str:
    from portal.auth import current_user

    return f"user:{current_user.id}" if current_user else f"addr:{request.remote_addr}"


def _storage_uri(app: Flask) -> str:
    """The app's Redis. With the embedded development Redis (no ``REDIS_URL``) the
    counts stay in memory: starting that server here would start it at app creation,
    for every command and test app."""
    url = app.config.get("SESSION_REDIS_URL") or app.config.get("REDIS_URL")
    if not url:
        return "memory://"
    return "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url


def init_app(app: Flask) -> None:
    """Limit the filing views of ``app``; runs when the citizen blueprint is registered."""
    app.config.setdefault("FILING_RATE_LIMIT", "5 per minute;30 per day")
    if not app.config.get("RATELIMIT_ENABLED", True):
        return
    app.config.setdefault("RATELIMIT_STORAGE_URI", _storage_uri(app))
    if app.config.get("SESSION_REDIS_URL") or app.config.get("REDIS_URL"):
        from portal.redis_conn import session_redis

        # Share the app's connection pool, so closing the app's Redis client closes
        # the limiter's connections too (an embedded Redis stops only when the last
        # client is gone). No connection is made here.
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"connection_pool": session_redis(app).connection_pool})
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "indgang-limits")
    limiter = Limiter(key_func=_per_citizen, default_limits=[], strategy="fixed-window")
    limiter.init_app(app)

    def limit() -> str:
        return current_app.config["FILING_RATE_LIMIT"]

    for endpoint, scope in LIMITED_VIEWS.items():
        decorate = limiter.shared_limit(limit, scope=scope)
        app.view_functions[endpoint] = decorate(app.view_functions[endpoint])
    app.extensions["citizen_limiter"] = limiter
