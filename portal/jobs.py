"""rq jobs. Each takes plain ids, opens its own session, calls a service, and is
safe to run twice. Jobs are never enqueued directly from a web request: services add
them to the outbox (``portal.services.outbox.add_job``) in the same transaction as
the change, and the relay moves them to rq after commit.

Declare each job with ``@job(queue=..., timeout=...)`` so its queue and timeout are
stated where it is defined.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Callable
from datetime import date

from flask import Flask, current_app
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from portal.db import open_session
from portal.services import outbox
from portal.services.outbox import JobSpec
from routing.engine import NoRoute

log = logging.getLogger(__name__)


def job(queue: str = "default", timeout: int = 180) -> Callable[[Callable], Callable]:
    """Declare a job: its queue and timeout travel with it into the outbox."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*, outbox_id: int | None = None, **kwargs):
            try:
                with open_session(current_app) as session, outbox.marking_done(session, outbox_id):
                    return func(session, **kwargs)
            except OperationalError:
                _keep_retries_while_the_database_is_down(current_app)
                raise

        run.job_spec = JobSpec(name=f"{func.__module__}.{func.__name__}", queue=queue, timeout=timeout)
        return run

    return decorate


def _keep_retries_while_the_database_is_down(app: Flask) -> None:
    """A job that failed because the database does not answer has not used up one of
    its retries: it is tried again in the first backoff (10 s) for as long as the
    outage lasts, and runs when the database is back, instead of landing among the
    failed jobs after a few minutes of outage (issue 20)."""
    from rq import get_current_job
    from sqlalchemy import text

    try:
        with app.extensions["db"].engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return  # it answers: an ordinary failure
    except SQLAlchemyError:
        pass
    job = get_current_job()
    if job is not None and job.retries_left is not None and job.retry_intervals:
        job.retries_left = len(job.retry_intervals) + 1  # rq takes one off as it retries
        log.warning("job %s: the database does not answer; retried without using up a retry", job.id)


def preload(app: Flask) -> None:
    """Load, once in the worker before it forks, what every job would otherwise load
    again in its own short-lived child (rq's advice for forking workers): the job
    modules, the decision rules, the Danish holidays, the translations, the rule set
    in force compiled for today and routing's SQL (see ``_rehearse``). A routing job
    in a child took about 210 ms without this, and about 40 ms with it (issue 6).

    Ends holding no database connection, so that no child inherits one, and moves
    what it loaded out of the garbage collector's reach (``gc.freeze``), so that a
    child's collections neither scan it nor copy its memory pages."""
    from flask_babel import force_locale, get_translations

    from portal.services import cases, coordination, deadlines, decisions, notifications, routing  # noqa: F401

    with app.app_context():
        today = deadlines.danish_today()
        for year in (today.year, today.year + 1):  # deadlines reach into next year
            deadlines.danish_holidays(year)
        decisions.library()
        for language in app.config["LANGUAGES"]:
            with force_locale(language):
                get_translations()
        try:
            _rehearse(app, today)
        except (SQLAlchemyError, NoRoute) as exc:  # each child's first job loads it then
            log.warning("preload: routing was not rehearsed (%s)", exc)
        finally:
            app.extensions["db"].engine.dispose()
    gc.collect()
    gc.freeze()


def _rehearse(app: Flask, today: date) -> None:
    """Compile the rule set in force for today, then route a made-up request inside a
    transaction that is rolled back, so that routing's SQL is compiled once here
    rather than in every child (about 20 ms of each job). Nothing of it is kept: the
    session joins the outer transaction through savepoints (SQLAlchemy's recipe for
    joining an external transaction). It waits at most two seconds for a lock, so a
    busy database delays the worker's start by no more than that."""
    from uuid import uuid4

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from portal.models import Request, RequestStatus, Role, User
    from portal.models.base import utcnow
    from portal.services import cases, routing

    with app.extensions["db"].engine.connect() as connection:
        if connection.dialect.name == "sqlite":  # before BEGIN IMMEDIATE takes the write lock
            connection.connection.driver_connection.execute("PRAGMA busy_timeout = 2000")
        outer = connection.begin()
        try:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SET LOCAL lock_timeout = '2s'"))
            with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
                in_force = routing.rule_set_in_force(session, today)
                in_force.compiled.prepare(today)
                citizen = User(issuer="indgang:preload", subject=uuid4().hex, role=Role.CITIZEN,
                               name="Preload", notify_by_email=False, municipality_code="101")
                request = Request(citizen=citizen, service_type_slug=in_force.rule_set.rules[0].service_type,
                                  status=RequestStatus.FILED, municipality_code="101",
                                  reference=f"PRELOAD-{uuid4().hex[:16]}", filed_at=utcnow(), filed_on=today,
                                  answers={})
                session.add(request)
                session.flush()
                cases.route_request(session, request.id)
        finally:
            outer.rollback()


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
