"""The database handle under concurrent use, on the backend the suite runs on."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from portal.db import Database
from portal.models import User
from tests.factories import make_citizen


def test_a_transaction_that_reads_then_writes_survives_a_concurrent_writer(live_database_url):
    """A staff page reads, then writes its audit row; meanwhile a job writes and
    commits. Both must land. On SQLite a deferred transaction failed here at once
    with "database is locked" (its snapshot was stale, so it could not wait), and
    the page answered 500."""
    db = Database(live_database_url)
    has_read, job_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def page() -> None:
        try:
            with db.sessionmaker() as session:
                session.scalar(select(func.count()).select_from(User))
                has_read.set()
                job_done.wait(1)  # PostgreSQL: the job commits first; SQLite: it waits for us
                make_citizen(session, name="Page")
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    def job() -> None:
        try:
            has_read.wait(5)
            with db.sessionmaker() as session:
                make_citizen(session, name="Job")
                session.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            job_done.set()

    threads = [threading.Thread(target=page), threading.Thread(target=job)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        with db.sessionmaker() as session:
            assert sorted(session.scalars(select(User.name).where(User.name.in_(["Page", "Job"])))) == ["Job", "Page"]
    finally:
        db.engine.dispose()
