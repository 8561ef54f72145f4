"""Plain error pages: a message and a correlation id, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return jsonify(title=exc.name, status=exc.code, detail=exc.description), exc.code
        return render_template("error.html", code=exc.code, name=exc.name), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error, correlation id %s", g.get("correlation_id"))
        return render_template("error.html", code=500, name=None), 500
