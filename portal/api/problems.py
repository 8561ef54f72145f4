"""RFC 9457 problem details: every error under ``/api/`` is ``application/problem+json``.

A problem has ``type`` (a URN naming the kind of problem, documented in docs/api.md,
or ``about:blank`` for a plain HTTP status), ``title``, ``status``, ``detail`` (what
went wrong this time, in words a developer can act on), ``instance`` (the path) and
``correlation_id`` (quote it when reporting a problem). Some problems add members:
``errors`` (validation), ``error``/``error_description`` (OAuth token endpoint).
"""

from __future__ import annotations

import json
from http import HTTPStatus

from flask import Response, g, request
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"


def problem_type(slug: str) -> str:
    return f"urn:indgang:problem:{slug}"


class ApiProblem(Exception):
    """Raise from API code to answer with a problem; handled by the blueprint."""

    def __init__(self, status: int, detail: str, *, slug: str | None = None, title: str | None = None,
                 headers: dict | None = None, **extensions):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title
        self.headers = headers or {}
        self.extensions = extensions

    def response(self) -> Response:
        return problem(self.status, self.detail, slug=self.slug, title=self.title,
                       headers=self.headers, **self.extensions)


def problem(status: int, detail: str, *, slug: str | None = None, title: str | None = None,
            headers: dict | None = None, **extensions) -> Response:
    """A problem+json response."""
    body = {
        "type": problem_type(slug) if slug else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if g.get("correlation_id"):
        body["correlation_id"] = g.correlation_id
    body.update(extensions)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# Clearer words than werkzeug's defaults, for the statuses the API meets.
_DETAILS = {
    400: "The request could not be understood.",
    401: "A valid bearer token is needed: get one at /api/v1/oauth/token.",
    403: "This client may not do that.",
    404: "There is no resource at {path}.",
    405: "{method} is not allowed on {path}; allowed: {allowed}.",
    413: "The request body is larger than this service accepts.",
    415: "Send the request body as application/json.",
    429: "Too many requests: slow down and retry after the time in Retry-After.",
}


def from_http_exception(exc: HTTPException) -> Response:
    """A problem for a werkzeug HTTP error raised anywhere under /api/."""
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    template = _DETAILS.get(status)
    allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or []))
    if template:
        detail = template.format(path=request.path, method=request.method, allowed=allowed or "none")
    else:
        detail = exc.description or HTTPStatus(status).phrase
    return problem(status, detail, headers=headers)


def internal_error() -> Response:
    return problem(500, "An unexpected error occurred. Quote the correlation_id when you report it.")
