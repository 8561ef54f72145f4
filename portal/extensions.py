"""Flask extensions, created here and bound to an app in ``create_app``."""

from __future__ import annotations

from flask import request, session
from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()
htmx = HTMX()


def rate_limit_key() -> str:
    """Limits count per logged-in user, else per client address."""
    from portal.auth import current_user

    return f"user:{current_user.id}" if current_user else f"addr:{request.remote_addr}"


# Storage is the app's Redis (set in ``init_limiter``); limits are declared on views.
limiter = Limiter(key_func=rate_limit_key)


def init_limiter(app) -> None:
    """Bind the rate limiter to the app's Redis (memory only for the embedded dev Redis,
    whose socket exists only once something starts it)."""
    url = app.config.get("REDIS_URL")
    if url and url.startswith("unix://"):
        url = "redis+unix://" + url.removeprefix("unix://")
    app.config.setdefault("RATELIMIT_STORAGE_URI", url or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "indgang-rl")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)


def select_locale() -> str:
    """The language: an explicit choice in the session, else the browser's, else Danish."""
    from flask import current_app, has_request_context

    if not has_request_context():  # jobs and CLI commands: the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
