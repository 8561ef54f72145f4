"""The transactional outbox and its relay to rq.

``add_job`` writes an outbox row in the caller's transaction: no Redis call happens
inside a web request, so filing works while Redis is down, and a rolled-back
transaction leaves no job. ``relay`` moves committed pending rows into rq, using the
outbox id as the job id; on PostgreSQL it claims rows with ``FOR UPDATE SKIP LOCKED``
so several relays can run side by side.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job, JobStatus
from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session

from portal.models import OutboxMessage, OutboxStatus
from portal.models.base import utcnow

log = logging.getLogger(__name__)

# Retries for every job moved by the relay: back off 10 s, 1 min, 5 min, then the
# job lands in rq's failed registry, where administrators see it and can retry it.
RETRY_INTERVALS = (10, 60, 300)


@dataclass(frozen=True)
class JobSpec:
    """Where and how long a job runs; declared beside the job in ``portal.jobs``."""

    name: str
    queue: str = "default"
    timeout: int = 180


def add_job(session: Session, job: Callable, **kwargs) -> OutboxMessage:
    """Queue ``job(**kwargs)`` to run after the caller's transaction commits.

    ``job`` is a function declared with ``portal.jobs.job`` (its queue, timeout and
    retries travel with it); ``kwargs`` must be plain JSON values (ids, not objects).
    """
    message = OutboxMessage(**_job_row(job, kwargs))
    session.add(message)
    return message


def insert_job(session: Session, job: Callable, **kwargs) -> None:
    """``add_job`` for hot paths (filing): the row is inserted at once, in the caller's
    transaction, and no ``OutboxMessage`` is made (no ORM flush, no id read back)."""
    session.execute(OutboxMessage.__table__.insert(), _job_row(job, kwargs))


def _job_row(job: Callable, kwargs: dict) -> dict:
    spec: JobSpec = job.job_spec
    return {"job": spec.name, "args": kwargs, "queue": spec.queue, "timeout": spec.timeout}


def relay(session: Session, redis: Redis, *, batch: int = 100) -> int:
    """Move up to ``batch`` pending outbox rows into rq; returns how many moved.

    Safe to run twice or concurrently: rows are claimed with SKIP LOCKED on
    PostgreSQL. A row whose job ``outbox-<id>`` is still waiting, running, waiting
    for its retry or failed in Redis (a relay that died after enqueueing it, before
    its commit) is marked enqueued without being queued again: rq would put the same
    id on the queue a second time, or reset a job that is running. A finished job is
    queued again: its row is pending only when the job's commit was lost
    (``scheduler.requeue_lost``). The job itself is idempotent too.
    Raises ``RedisError`` when Redis is down; the rows stay pending.
    """
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .order_by(OutboxMessage.id)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.scalars(stmt))
    moved = 0
    try:
        in_rq = _jobs_in_rq(redis, [row.job_id for row in rows])
        for row in rows:
            if row.job_id in in_rq:
                log.warning("relay: job %s is already in rq; not queued again", row.job_id)
            else:
                Queue(row.queue, connection=redis).enqueue_call(
                    func=row.job,
                    kwargs={**row.args, "outbox_id": row.id},
                    job_id=row.job_id,
                    retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
                    timeout=row.timeout,
                    result_ttl=86400,
                    failure_ttl=30 * 86400,
                )
            row.status = OutboxStatus.ENQUEUED
            row.enqueued_at = utcnow()
            row.attempts += 1
            moved += 1
    except RedisError:
        # What reached Redis is marked; the rest stays pending for the next run.
        session.commit()
        raise
    session.commit()
    return moved


def _jobs_in_rq(redis: Redis, job_ids: list[str]) -> set[str]:
    """Which of these jobs rq holds waiting, running, due for a retry or failed: one
    round trip for all."""
    if not job_ids:
        return set()
    pipe = redis.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(Job.key_for(job_id), "status")
    held = {status.value for status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED,
                                         JobStatus.SCHEDULED, JobStatus.FAILED)}
    statuses = [status.decode() if isinstance(status, bytes) else status for status in pipe.execute()]
    return {job_id for job_id, status in zip(job_ids, statuses, strict=True) if status in held}


@contextmanager
def marking_done(session: Session, outbox_id: int | None) -> Iterator[None]:
    """Run a job so that its outbox row is marked done by the job's own commit.

    Every transaction the job begins carries the mark (one UPDATE, nothing read), so
    the job's commit records both together: one commit a job. A job that ends with a
    rollback or leaves its transaction open is committed here with the mark. A job
    that raises leaves the row as it was, and rq retries the job.

    """
    if outbox_id is None:
        yield
        return
    committed = False

    def on_begin(_session, _transaction, connection):
        connection.execute(_mark_done(), {"outbox_id": outbox_id, "now": utcnow()})

    def on_commit(_session):
        nonlocal committed
        committed = True

    event.listen(session, "after_begin", on_begin)
    event.listen(session, "after_commit", on_commit)
    try:
        yield
        if session.in_transaction() or not committed:
            session.connection()  # begins (and so marks) if the job left no transaction
            session.commit()
    finally:
        event.remove(session, "after_begin", on_begin)
        event.remove(session, "after_commit", on_commit)


@functools.cache
def _mark_done():
    return (
        update(OutboxMessage)
        .where(OutboxMessage.id == bindparam("outbox_id"), OutboxMessage.status != OutboxStatus.DONE)
        .values(status=OutboxStatus.DONE, finished_at=bindparam("now"))
    )
