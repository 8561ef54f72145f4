"""The outbox relay loop: what ``indgang relay`` and ``indgang worker`` run.

On PostgreSQL the relay LISTENs on ``OUTBOX_CHANNEL``: a trigger on the outbox
(migration recovery_1) NOTIFYs it in the transaction that adds a row, so a filing's
routing job reaches rq as soon as the filing commits, without a Redis call in the web
request. The poll stays as the fallback (a lost connection, another backend).
"""

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

OUTBOX_CHANNEL = "indgang_outbox"


def relay_interval(app: Flask) -> float:
    """Seconds between polls: RELAY_INTERVAL, else 1 s where NOTIFY wakes the relay
    (PostgreSQL) and 0.2 s where only the poll does (SQLite)."""
    configured = app.config.get("RELAY_INTERVAL")
    if configured:
        return float(configured)
    return 1.0 if app.extensions["db"].engine.dialect.name == "postgresql" else 0.2


def run_relay(app: Flask, *, once: bool = False, interval: float | None = None,
              parent_pid: int | None = None) -> int:
    """Relay pending outbox rows until stopped; with ``once``, one pass. Returns rows moved.

    A Redis or database outage is logged and waited out: rows stay pending and move
    when both are back. With ``parent_pid`` (a worker's relay) it ends when that
    process does: the kernel sends SIGTERM (Linux), and each pass checks too.
    """
    from portal.queue_worker import die_with_parent, parent_alive

    if parent_pid:
        die_with_parent(parent_pid)
    interval = interval or relay_interval(app)
    wakeup = _Wakeup(app)
    total = 0
    upkeep_due = 0.0
    try:
        while True:
            if parent_pid and not parent_alive(parent_pid):
                log.warning("relay: worker %s is gone; stopping", parent_pid)
                return total
            try:
                with open_session(app) as session:
                    moved = relay(session, get_redis(app))
                total += moved
                if time.monotonic() >= upkeep_due:
                    upkeep(app)
                    upkeep_due = time.monotonic() + float(app.config.get("UPKEEP_INTERVAL", 5))
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
                wakeup.wait(interval)
    finally:
        wakeup.close()


class _Wakeup:
    """Waits ``interval`` seconds, or less when PostgreSQL notifies ``OUTBOX_CHANNEL``
    (a connection of its own, in autocommit, outside the pool)."""

    def __init__(self, app: Flask):
        engine = app.extensions["db"].engine
        self.url = None
        if engine.dialect.name == "postgresql":
            self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.connection = None

    def wait(self, interval: float) -> None:
        if self.url is None:
            time.sleep(interval)
            return
        import psycopg

        try:
            if self.connection is None or self.connection.closed:
                self.connection = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
                self.connection.execute(f"LISTEN {OUTBOX_CHANNEL}")
                return  # a row may have come before LISTEN: look at once
            for _notice in self.connection.notifies(timeout=interval, stop_after=1):
                pass
        except psycopg.Error as exc:
            log.warning("relay: not listening for outbox rows (%s); polling", type(exc).__name__)
            self.close()
            time.sleep(interval)

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None


def upkeep(app: Flask) -> None:
    """Enqueue due periodic jobs, retry jobs whose worker died in the middle, and
    recover outbox rows whose jobs Redis lost."""
    from datetime import timedelta

    from portal.services.scheduler import reclaim_abandoned, requeue_lost, schedule_periodic

    redis = get_redis(app)
    schedule_periodic(redis)
    reclaim_abandoned(redis)
    with open_session(app) as session:
        requeue_lost(session, redis, older_than=timedelta(seconds=float(app.config.get("OUTBOX_REQUEUE_AFTER", 120))))
