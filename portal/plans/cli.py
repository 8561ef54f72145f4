"""``indgang plans``: commands for the coordinated plans."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("plans")
def plans_group() -> None:
    """Coordinated plans."""


@plans_group.command("remind")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Pretend it is this day (default: today).")
@click.option("--queue", "via_queue", is_flag=True, help="Queue the reminder job instead of running it here.")
@with_appcontext
def remind(today, via_queue: bool) -> None:
    """Remind lead coordinators and citizens of plan reviews due soon (run daily)."""
    from portal.db import open_session
    from portal.plans import jobs
    from portal.services import plans
    from portal.services.deadlines import danish_today
    from portal.services.outbox import add_job

    day = today.date() if today else danish_today()
    with open_session() as session:
        if via_queue:
            add_job(session, jobs.queue_review_reminders, today=day.isoformat())
            session.commit()
            click.echo("review reminder job queued")
        else:
            click.echo(f"{plans.queue_review_reminders(session, day)} review reminder(s) queued")
