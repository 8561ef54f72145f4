"""The database handle under concurrent use, on the backend the suite runs on."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.db import Database
from portal.models import Message, User
from tests.factories import make_case, make_citizen, make_request, make_staff


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


def test_a_database_error_does_not_carry_the_personal_data_it_was_writing(session):
    """A failed statement's message goes to the log and into rq's stored traceback
    (shown on the failed-jobs page): it must name the statement, not its values."""
    citizen = make_citizen(session)
    case = make_case(session, make_request(session, citizen))
    worker = make_staff(session)
    session.add(Message(case_id=case.id, sender_id=worker.id, to_citizen=True, body="first", idempotency_key="k1"))
    session.flush()
    session.add(Message(case_id=case.id, sender_id=worker.id, to_citizen=True,
                        body="Borgerens diagnose: depression", idempotency_key="k1"))
    with pytest.raises(IntegrityError) as raised:
        session.flush()
    assert "INSERT INTO messages" in str(raised.value)
    # The text written is not there. (PostgreSQL's own DETAIL names the duplicated key,
    # here an idempotency key: the unique columns hold keys and references, not what
    # people wrote.)
    assert "diagnose" not in str(raised.value) and "depression" not in str(raised.value)
