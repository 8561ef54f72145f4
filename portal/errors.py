"""Plain error pages: a message and a correlation id, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, g, make_response, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            from portal.api.problems import from_http_exception

            return from_http_exception(exc)
        from portal.security import NulCharacter

        nul = isinstance(exc, NulCharacter)
        response = make_response(render_template("error.html", code=exc.code, name=exc.name, nul=nul), exc.code)
        if exc.code == 429 and "Retry-After" not in response.headers:
            # Say when to try again (RFC 9110 10.2.3): the limit's window, else a minute.
            window = getattr(getattr(exc, "limit", None), "limit", None)
            response.headers["Retry-After"] = str(int(window.get_expiry()) if window else 60)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error, correlation id %s", g.get("correlation_id"))
        if request.path.startswith("/api/"):
            from portal.api.problems import internal_error

            return internal_error()
        return render_template("error.html", code=500, name=None), 500
