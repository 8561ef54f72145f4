"""Flask extensions, created here and bound to an app in ``create_app``."""

from __future__ import annotations

from flask import make_response, request, session
from flask_babel import Babel
from flask_htmx import HTMX
from flask_wtf.csrf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()
htmx = HTMX()


def htmx_fragment(target: str) -> bool:
    """Whether this is htmx asking for the element ``target`` alone (its ``HX-Target``).
    Branch on the target, not on ``HX-Request``: htmx's history restore (the Back
    button) sends ``HX-Request`` too, without a target, and must get the whole page."""
    return bool(htmx) and htmx.target == target


def vary_on_htmx(response):
    """``response`` (anything a view may return) marked for caches as depending on the
    htmx headers a view branches on, keeping any other ``Vary`` it has."""
    response = make_response(response)
    response.vary.update(("HX-Request", "HX-Target"))
    return response


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
