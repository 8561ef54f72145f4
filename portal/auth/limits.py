"""Rate limits for login and logout (storage: ``portal.ratelimit``).

One ``Limiter`` per app (Flask-Limiter keeps its storage on the instance), applied
to the auth views after they are registered.
"""

from __future__ import annotations

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from portal.ratelimit import configure_storage

# endpoint -> (setting, shared scope): starting a login and its callback share a budget.
LIMITED_VIEWS = {
    "auth.login": ("AUTH_LOGIN_RATE_LIMIT", "auth-login"),
    "auth.callback": ("AUTH_LOGIN_RATE_LIMIT", "auth-login"),
    "auth.logout": ("AUTH_LOGOUT_RATE_LIMIT", "auth-logout"),
    "auth.backchannel_logout": ("AUTH_BACKCHANNEL_RATE_LIMIT", "auth-backchannel"),
}


def init_app(app: Flask) -> None:
    """Limit the auth views; call after the auth blueprint is registered."""
    app.config.setdefault("AUTH_LOGIN_RATE_LIMIT", "30 per minute")
    app.config.setdefault("AUTH_LOGOUT_RATE_LIMIT", "20 per minute")
    app.config.setdefault("AUTH_BACKCHANNEL_RATE_LIMIT", "120 per minute")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    configure_storage(app)
    limiter = Limiter(key_func=get_remote_address, default_limits=[], strategy="fixed-window")
    limiter.init_app(app)
    for endpoint, (setting, scope) in LIMITED_VIEWS.items():
        def limit(setting=setting) -> str:
            return current_app.config[setting]

        decorate = limiter.shared_limit(limit, scope=scope)
        app.view_functions[endpoint] = decorate(app.view_functions[endpoint])
    app.extensions["auth_limiter"] = limiter
