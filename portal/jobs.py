"""rq jobs. Each takes plain ids, opens its own session, calls a service, and is
safe to run twice. Jobs are never enqueued directly from a web request: services add
them to the outbox (``portal.services.outbox.add_job``) in the same transaction as
the change, and the relay moves them to rq after commit.

Declare each job with ``@job(queue=..., timeout=...)`` so its queue and timeout are
stated where it is defined.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import current_app

from portal.db import open_session
from portal.services import outbox
from portal.services.outbox import JobSpec

log = logging.getLogger(__name__)


def job(queue: str = "default", timeout: int = 180) -> Callable[[Callable], Callable]:
    """Declare a job: its queue and timeout travel with it into the outbox."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*, outbox_id: int | None = None, **kwargs):
            with open_session(current_app) as session, outbox.marking_done(session, outbox_id):
                return func(session, **kwargs)

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
    from portal.services import cases

    # One transaction: cases, instant decision where the rules allow, coordination offer.
    return [case.id for case in cases.route_request(session, request_id)]


@job(queue="default", timeout=60)
def notify(session, *, key: str | None = None, notification_id: int | None = None) -> bool:
    """Send one notification (named by its unique key; rows queued before keys were
    used name its id) by e-mail, once (a sent one is not sent again)."""
    from portal.services.notifications import send_notification

    return send_notification(session, notification_id, key=key)


@job(queue="low", timeout=600)
def watch_deadlines(session) -> dict:
    """Warn before targets, escalate at breach, tell citizens of missed targets."""
    from portal.services import cases

    return cases.watch_deadlines(session)


@job(queue="low", timeout=1800)
def retention(session) -> dict:
    """Storage limitation, daily: anonymise requests whose cases all closed, and plans
    that ended, more than RETENTION_DAYS ago; delete drafts untouched for
    DRAFT_RETENTION_DAYS; delete audit rows past AUDIT_RETENTION_DAYS. Returns (and
    logs) how many of each it handled; a second run reports zeros."""
    from portal.services import attachments, audit, cases, filing, plans

    config = current_app.config
    uploads = attachments.upload_dir(current_app.instance_path)
    counts = {
        "requests_anonymised": cases.anonymise_closed_cases(session, int(config["RETENTION_DAYS"]), uploads),
        "plans_anonymised": plans.anonymise_ended_plans(session, int(config["RETENTION_DAYS"])),
        "drafts_deleted": filing.delete_stale_drafts(session, int(config["DRAFT_RETENTION_DAYS"]), uploads),
        "audit_rows_deleted": audit.delete_expired(session, int(config["AUDIT_RETENTION_DAYS"])),
    }
    log.info("retention: %s", ", ".join(f"{kind} {count}" for kind, count in counts.items()))
    return counts
