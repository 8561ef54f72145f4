"""Flask extensions, created here and bound to an app in ``create_app``."""

from __future__ import annotations

from flask import request, session
from flask_babel import Babel
from flask_htmx import HTMX
from flask_wtf.csrf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()
htmx = HTMX()


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
