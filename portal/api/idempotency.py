"""``Idempotency-Key`` on writes: a retried call gets the stored response, and the
change happens once.

The key's row is added to the session *before* the case service runs, so the
service's single commit stores it together with the change: either both exist or
neither. A retry with the same key and the same body replays the stored response
(header ``Idempotent-Replayed: true``); the same key with another body or path is a
422 problem. Only successful responses are stored: a failed call left nothing behind
and may be retried as is.

The response is stored by a second commit, after the change's. A key whose change
committed but whose response was never stored (the process died between the two)
answers "in progress" only for ``IN_PROGRESS_SECONDS``, longer than any call runs;
after that it says the call was carried out and its answer lost, so the client reads
the resource instead of waiting or repeating the change under a new key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from flask import Response, request
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from portal.api.oauth import current_client
from portal.api.problems import ApiProblem
from portal.db import get_session
from portal.models import IdempotencyRecord
from portal.models.base import utcnow

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
IN_PROGRESS_SECONDS = 120  # gunicorn stops a call after 30 s


def _request_hash() -> str:
    body = request.get_data(cache=True)
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, or nested too deeply: hash the raw bytes
        canonical = body
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + canonical).hexdigest()


def idempotent(view: Callable) -> Callable:
    """Make a write view honour ``Idempotency-Key`` (optional but recommended)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
            raise ApiProblem(400, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (no spaces).",
                             slug="bad-idempotency-key", title="Bad idempotency key")
        session = get_session()
        client = current_client()
        digest = _request_hash()
        existing = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.api_client_id == client.id, IdempotencyRecord.key == key))
        if existing is not None:
            return _replay(existing, digest)
        record = IdempotencyRecord(api_client_id=client.id, key=key, method=request.method,
                                   path=request.path, request_hash=digest)
        session.add(record)
        try:
            response = view(*args, **kwargs)
        except IntegrityError:
            # A concurrent call with the same key committed first.
            session.rollback()
            raise ApiProblem(409, "A call with this Idempotency-Key is being processed; retry shortly.",
                             slug="idempotency-in-progress", title="Request in progress")
        except BaseException:
            session.rollback()
            _forget(session, record)
            raise
        response = _as_response(response)
        if response.status_code < 300 and record in session:
            record.status_code = response.status_code
            record.response_body = response.get_json(silent=True)
            session.commit()
            return response
        session.rollback()
        _forget(session, record)
        return response

    return wrapped


def _forget(session, record: IdempotencyRecord) -> None:
    """Drop a key whose call failed after something else committed it (e.g. a denied
    audit row), so the client may retry with the same key."""
    if inspect(record).persistent:
        session.delete(record)
        session.commit()


def _replay(record: IdempotencyRecord, digest: str) -> Response:
    if record.request_hash != digest:
        raise ApiProblem(422, f"This {HEADER} was used with a different request; use a new key for a new request.",
                         slug="idempotency-key-reused", title="Idempotency key reused")
    if record.status_code is None:
        if utcnow() - record.created_at > timedelta(seconds=IN_PROGRESS_SECONDS):
            raise ApiProblem(409, "The call with this Idempotency-Key was carried out, but its answer was not "
                                  "kept. Read the resource to see its state; do not repeat the change with a new key.",
                             slug="idempotency-answer-lost", title="Call carried out, answer lost")
        raise ApiProblem(409, "A call with this Idempotency-Key is being processed; retry shortly.",
                         slug="idempotency-in-progress", title="Request in progress")
    response = Response(json.dumps(record.response_body), status=record.status_code,
                        mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _as_response(value) -> Response:
    from flask import current_app

    return current_app.make_response(value)
