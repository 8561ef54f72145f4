"""Rate limits: one Flask-Limiter ``Limiter`` per app, counting in one place.

Each area limits its own views with ``limit_views`` when its blueprint is registered
(login and logout per address; filing, and messages to caseworkers, per citizen); the
first call makes the app's limiter. Limits are read from the config at request time.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def per_user() -> str:
    """Whose budget: the logged-in user's, else the client's address."""
    from flask import request

    from portal.auth import current_user

    return f"user:{current_user.id}" if current_user else f"addr:{request.remote_addr}"


def limit_views(app: Flask, views: dict[str, tuple[str, str]], key_func: Callable[[], str] | None = None,
                methods: list[str] | None = None) -> None:
    """Limit each endpoint in ``views`` (endpoint -> (config setting holding the limit,
    shared scope)); endpoints with the same scope share one budget. ``key_func`` says
    whose budget it is (default: the client's address); ``methods`` limits only those
    methods (default: all)."""
    limiter = app.extensions.get("indgang_limiter")
    if limiter is None:
        configure_storage(app)
        limiter = Limiter(key_func=get_remote_address, default_limits=[], strategy="fixed-window")
        limiter.init_app(app)
        app.extensions["indgang_limiter"] = limiter
    for endpoint, (setting, scope) in views.items():
        def limit(setting=setting) -> str:
            return current_app.config[setting]

        decorate = limiter.shared_limit(limit, scope=scope, key_func=key_func, methods=methods)
        app.view_functions[endpoint] = decorate(app.view_functions[endpoint])


def configure_storage(app: Flask) -> None:
    """Count in the web-state Redis (``SESSION_REDIS_URL``, else ``REDIS_URL``).

    With neither set (the embedded development Redis) or with rate limits switched
    off, counts stay in memory: starting the embedded server here would start it at
    app creation, for every command and test app. The limiter shares the app's
    connection pool, so closing the app's Redis client closes its connections too.
    No connection is made here.
    """
    config = app.config
    config.setdefault("RATELIMIT_KEY_PREFIX", "indgang-limits")
    url = config.get("SESSION_REDIS_URL") or config.get("REDIS_URL")
    if not config.get("RATELIMIT_ENABLED", True) or not url:
        config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
        return
    from portal.redis_conn import session_redis

    uri = "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url
    config.setdefault("RATELIMIT_STORAGE_URI", uri)
    config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"connection_pool": session_redis(app).connection_pool})
