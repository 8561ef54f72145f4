"""The outbox relay loop: what ``indgang relay`` and ``indgang worker`` run."""

from __future__ import annotations

import logging
import time

from flask import Flask
from redis.exceptions import RedisError

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
    while True:
        try:
            with open_session(app) as session:
                moved = relay(session, get_redis(app))
            total += moved
        except RedisError as exc:
            log.warning("relay: Redis unavailable (%s); outbox rows wait", type(exc).__name__)
            moved = 0
        if once:
            return total
        if not moved:
            time.sleep(interval)
