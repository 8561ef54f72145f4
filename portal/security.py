"""Response headers every page carries, and the correlation id of each request."""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request

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


def init_app(app: Flask) -> None:
    @app.before_request
    def _correlation_id() -> None:
        # Accept a well-formed id from a trusted proxy, else make our own.
        incoming = request.headers.get("X-Correlation-ID", "")
        ok = 8 <= len(incoming) <= 64 and incoming.replace("-", "").isalnum()
        g.correlation_id = incoming if ok else secrets.token_hex(8)

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
