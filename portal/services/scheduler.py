"""Periodic jobs and lost-job recovery, run from the relay loop of every worker.

``reclaim_abandoned`` retries jobs left "started" by a worker that died (rq's own
cleanup of its started registry, run often).

``schedule_periodic`` enqueues each periodic job once per time slot: the slot is
claimed with ``SET NX`` on a key named after it, and the rq job id is named after
the slot too, so any number of relays running side by side enqueue it once.
``requeue_lost`` puts outbox rows back to pending when their rq job vanished from
Redis (a Redis restart without persistence) or finished without its commit surviving
(jobs commit without waiting for the WAL flush on PostgreSQL), so the relay moves them
again; the jobs are idempotent, so a job that did run is harmless to run again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.models import OutboxMessage, OutboxStatus
from portal.models.base import utcnow
from portal.services.outbox import RETRY_INTERVALS


def periodic_jobs() -> list[tuple[object, int]]:
    """(job, every seconds) for each periodic job."""
    from portal import jobs

    return [(jobs.watch_deadlines, 3600), (jobs.retention, 86400)]


def schedule_periodic(redis: Redis, now: datetime | None = None) -> list[str]:
    """Enqueue the periodic jobs whose slot has started and is not yet claimed.

    Returns the job ids enqueued by this call (empty when another relay was first).
    """
    now = now or utcnow()
    enqueued = []
    for job, every in periodic_jobs():
        spec = job.job_spec
        slot = int(now.timestamp()) // every
        job_id = f"periodic-{spec.name.rsplit('.', 1)[-1]}-{every}-{slot}"
        if not redis.set(f"indgang:periodic:{job_id}", "1", nx=True, ex=every * 2):
            continue
        Queue(spec.queue, connection=redis).enqueue_call(
            func=spec.name, job_id=job_id, timeout=spec.timeout,
            retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
            result_ttl=every * 2, failure_ttl=30 * 86400,
        )
        enqueued.append(job_id)
    return enqueued


QUEUES = ("high", "default", "low")


def reclaim_abandoned(redis: Redis, queues: tuple[str, ...] = QUEUES, *, lock_seconds: int = 30) -> None:
    """Hand rq's abandoned jobs back to it: a job still "started" whose entry in the
    started registry lapsed (its worker stopped beating: killed, or cut off) is retried
    with its backoff, or failed on its last attempt, as rq's own maintenance does, but
    every upkeep instead of every ten minutes. One relay at a time per queue (a lock
    of its own, short, so a relay killed while holding it delays no one for long).
    Raises ``RedisError`` when Redis is down."""
    for name in queues:
        lock = f"indgang:reclaim:{name}"
        if not redis.set(lock, "1", nx=True, ex=lock_seconds):
            continue
        try:
            StartedJobRegistry(name, connection=redis).cleanup()
        finally:
            redis.delete(lock)


def _lost(job_id: str, redis: Redis) -> bool:
    """True when the job is gone from Redis, or rq says it finished although the outbox
    row (marked done in the job's own transaction) is not: the commit was lost."""
    try:
        job = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        return True
    return job.get_status(refresh=False) == JobStatus.FINISHED


def requeue_lost(session: Session, redis: Redis, *, older_than: timedelta = timedelta(minutes=2),
                 batch: int = 500) -> int:
    """Set enqueued outbox rows back to pending when Redis no longer has their job.

    Only rows enqueued more than ``older_than`` ago are looked at. Commits. Raises
    ``RedisError`` when Redis is down (nothing is changed then).
    """
    cutoff = utcnow() - older_than
    rows = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.ENQUEUED,
                                    OutboxMessage.enqueued_at < cutoff)
        .order_by(OutboxMessage.id).limit(batch)
    ))
    lost = [row.id for row in rows if _lost(row.job_id, redis)]
    moved = 0
    for row_id in lost:
        # Only if still enqueued: a job that finished meanwhile has marked its row done.
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.status == OutboxStatus.ENQUEUED)
            .values(status=OutboxStatus.PENDING, last_error="job lost; requeued")
            .execution_options(synchronize_session=False)
        )
        moved += result.rowcount
    session.commit()
    return moved
