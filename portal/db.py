"""The database handle: one engine per app, one session per request on ``g``.

Views and services get the request's session from ``get_session()``; jobs and CLI
commands open their own with ``open_session()``. Tests may bind the sessionmaker to
a connection inside an outer transaction (``bind_to``), so every test rolls back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """The engine and sessionmaker of one app."""

    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def bind_to(self, connection) -> None:
        """Make every new session join ``connection``'s transaction via savepoints."""
        self.sessionmaker = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    def unbind(self) -> None:
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)


def make_engine(url: str) -> Engine:
    """An engine with the settings we want on each backend.

    ``hide_parameters``: a database error's message leaves out the statement's
    values, which are personal data (message bodies, answers, names). The message
    goes to the log and into rq's stored traceback, which administrators see on the
    failed-jobs page.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # Let SQLAlchemy, not pysqlite, decide when transactions begin, so that
            # savepoints and rollbacks behave as on PostgreSQL (SQLAlchemy's recipe).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets the web process read while the worker writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Every transaction takes the write lock when it begins, so it waits for
            # another writer (busy_timeout) instead of failing. A deferred transaction
            # that has read and then writes after another connection committed fails
            # at once with "database is locked": SQLite cannot wait then, because its
            # snapshot is stale. Staff pages read and then write their audit row, so
            # web requests need this as much as jobs. It makes SQLite serve one
            # transaction at a time: fine for the zero-setup default; production runs
            # PostgreSQL.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True)


def init_app(app: Flask) -> None:
    app.extensions["db"] = Database(app.config["DATABASE_URL"])
    app.teardown_appcontext(_close_session)


def database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["db"]


def get_session() -> Session:
    """The session of the current request or app context."""
    if "db_session" not in g:
        g.db_session = database().sessionmaker()
    return g.db_session


def _close_session(_exc) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def open_session(app: Flask | None = None) -> Iterator[Session]:
    """A session of its own, for jobs and CLI commands; closed on exit."""
    session = database(app).sessionmaker()
    try:
        yield session
    finally:
        session.close()
