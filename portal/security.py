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
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if "correlation_id" in g:
            h["X-Correlation-ID"] = g.correlation_id
        # Pages hold personal data: never cache them in shared caches.
        if not request.path.startswith("/static/"):
            h.setdefault("Cache-Control", "no-store")
        return response
