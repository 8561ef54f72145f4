"""Rate limits for login and logout, per address (``portal.ratelimit``)."""

from __future__ import annotations

from flask import Flask

from portal.ratelimit import limit_views

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
    limit_views(app, LIMITED_VIEWS)
