"""rq jobs. Each takes plain ids, opens its own session, calls a service, and is
safe to run twice. Jobs are never enqueued directly from a web request: services add
them to the outbox (``portal.services.outbox.add_job``) in the same transaction as
the change, and the relay moves them to rq after commit.

Declare each job with ``@job(queue=..., timeout=...)`` so its queue and timeout are
stated where it is defined.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import current_app
from sqlalchemy import text

from portal.db import open_session
from portal.services import outbox
from portal.services.outbox import JobSpec


def job(queue: str = "default", timeout: int = 180) -> Callable[[Callable], Callable]:
    """Declare a job: its queue and timeout travel with it into the outbox."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*, outbox_id: int | None = None, **kwargs):
            with open_session(current_app) as session:
                if session.get_bind().dialect.name == "postgresql":
                    # The job's first commit does not wait for the WAL flush (a 4 ms
                    # fsync here). Safe because the outbox row is marked done in that
                    # same transaction: if a database crash loses the commit, the row is
                    # not done while rq says the job finished, and the relay's upkeep
                    # runs the (idempotent) job again (scheduler.requeue_lost).
                    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                # Marked first so that the job's own commit carries it: one commit a job.
                outbox.mark_done(session, outbox_id)
                result = func(session, **kwargs)
                # If the job rolled back (nothing to do), record it as done now.
                outbox.mark_done(session, outbox_id)
                session.commit()
                return result

        run.job_spec = JobSpec(name=f"{func.__module__}.{func.__name__}", queue=queue, timeout=timeout)
        return run

    return decorate


@job(queue="default", timeout=30)
def ping(session, *, note: str = "") -> str:
    """A job that does nothing but prove the queue works end to end."""
    return f"pong {note}".strip()


@job(queue="default", timeout=60)
def route_request(session, *, request_id: int) -> list[int]:
    """Route a filed request and open its cases (idempotent: a routed request is left)."""
    from portal.services import cases, coordination, decisions

    opened = [case.id for case in cases.route_request(session, request_id)]
    # Decide at once where the rules allow, and spot complex needs early (each idempotent).
    decisions.decide_at_once(session, request_id)
    coordination.offer_if_complex(session, request_id)
    return opened


@job(queue="default", timeout=60)
def notify(session, *, notification_id: int) -> bool:
    """Send one notification by e-mail, once (a sent one is not sent again)."""
    from portal.services.notifications import send_notification

    return send_notification(session, notification_id)


@job(queue="low", timeout=600)
def watch_deadlines(session) -> dict:
    """Warn before targets, escalate at breach, tell citizens of missed targets."""
    from portal.services import cases

    return cases.watch_deadlines(session)


@job(queue="low", timeout=1800)
def retention(session) -> int:
    """Anonymise closed cases past RETENTION_DAYS."""
    from portal.services import cases

    return cases.anonymise_closed_cases(session, int(current_app.config["RETENTION_DAYS"]))
