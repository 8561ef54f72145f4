"""Where Flask-Limiter counts: one storage setting for every limiter of an app.

The login views and the citizen's filing views each have a ``Limiter`` (Flask-Limiter
keeps its limits on the instance); both read the storage from the app's config, which
``configure_storage`` sets once, whichever area registers first.
"""

from __future__ import annotations

from flask import Flask


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
