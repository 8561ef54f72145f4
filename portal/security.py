"""Response headers every page carries, and the correlation id of each request."""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request
from werkzeug.exceptions import BadRequest

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


# Headers every response gets unless the view set its own: (lower-case name, name, value).
DEFAULT_HEADERS = tuple(
    (name.lower(), name, value)
    for name, value in (
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    )
)
# Pages hold personal data: never cache them in shared caches (static files may be).
PAGE_HEADERS = (*DEFAULT_HEADERS, ("cache-control", "Cache-Control", "no-store"))


class NulCharacter(BadRequest):
    """Text with a NUL character: no one types one, and PostgreSQL cannot store it."""


def has_nul(values) -> bool:
    """Does any key or value of a MultiDict hold a NUL character?"""
    return any("\x00" in key or "\x00" in value for key, value in values.items(multi=True)
               if isinstance(value, str))


def init_app(app: Flask) -> None:
    @app.before_request
    def _correlation_id() -> None:
        # Accept a well-formed id from a trusted proxy, else make our own.
        incoming = request.headers.get("X-Correlation-ID", "")
        ok = 8 <= len(incoming) <= 64 and incoming.replace("-", "").isalnum()
        g.correlation_id = incoming if ok else secrets.token_hex(8)

    @app.before_request
    def _refuse_nul() -> None:
        # Refused at the door, before anything is read or written (the API answers in
        # its own problem format, checked in its own blueprint).
        if request.path.startswith("/api/"):
            return
        if "\x00" in request.path or has_nul(request.args) or (request.method == "POST" and has_nul(request.form)):
            raise NulCharacter()

    @app.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        # One pass over the headers the view set (every response pays for this hook).
        present = {name.lower() for name, _value in h.items()}
        defaults = DEFAULT_HEADERS if request.path.startswith("/static/") else PAGE_HEADERS
        h.extend([(name, value) for lower, name, value in defaults if lower not in present])
        if "correlation_id" in g:
            h["X-Correlation-ID"] = g.correlation_id
        return response
