"""``/healthz``: the process is up. ``/readyz``: the database and Redis answer."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from portal.db import get_session
from portal.redis_conn import get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """200 when both the database and Redis answer; 503 naming what does not."""
    problems = {}
    try:
        get_session().execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        problems["database"] = type(exc).__name__
    try:
        get_redis().ping()
    except Exception as exc:  # noqa: BLE001
        problems["redis"] = type(exc).__name__
    if problems:
        return jsonify(status="unavailable", failing=problems), 503
    return jsonify(status="ready")
