"""The outbox relay loop: what ``indgang relay`` and ``indgang worker`` run."""

from __future__ import annotations

import logging
import time

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from portal.db import open_session
from portal.redis_conn import get_redis
from portal.services.outbox import relay

log = logging.getLogger(__name__)


def run_relay(app: Flask, *, once: bool = False, interval: float = 1.0) -> int:
    """Relay pending outbox rows until stopped; with ``once``, one pass. Returns rows moved.

    A Redis outage is logged and waited out: rows stay pending and move when Redis
    is back.
    """
    total = 0
    upkeep_due = 0.0
    while True:
        try:
            with open_session(app) as session:
                moved = relay(session, get_redis(app))
            total += moved
            if time.monotonic() >= upkeep_due:
                upkeep(app)
                upkeep_due = time.monotonic() + float(app.config.get("UPKEEP_INTERVAL", 15))
        except RedisError as exc:
            log.warning("relay: Redis unavailable (%s); outbox rows wait", type(exc).__name__)
            moved = 0
        except OperationalError as exc:
            # A database that is restarting or busy is waited out like Redis.
            log.warning("relay: database unavailable (%s); retrying", type(exc.orig).__name__)
            moved = 0
        if once:
            return total
        if not moved:
            time.sleep(interval)


def upkeep(app: Flask) -> None:
    """Enqueue due periodic jobs and recover outbox rows whose jobs Redis lost."""
    from datetime import timedelta

    from portal.services.scheduler import requeue_lost, schedule_periodic

    redis = get_redis(app)
    schedule_periodic(redis)
    with open_session(app) as session:
        requeue_lost(session, redis, older_than=timedelta(seconds=float(app.config.get("OUTBOX_REQUEUE_AFTER", 120))))
