"""Jobs of the coordinated plan: e-mail notices and review reminders.

Plan notifications are sent by this small job of its own (the case notifications
of ``portal.services.notifications`` cover cases only). Both jobs are idempotent:
a notification row is sent once, and a reminder is written once per person and
review date.
"""

from __future__ import annotations

from flask import current_app

from portal.jobs import job
from portal.services import plans


@job(queue="default", timeout=60)
def send_plan_notification(session, *, notification_id: int) -> bool:
    """E-mail one plan notification (nothing happens if it was sent already)."""
    cfg = current_app.config
    return plans.send_notification(
        session, notification_id, smtp_host=cfg["SMTP_HOST"], smtp_port=cfg["SMTP_PORT"],
        mail_from=cfg["MAIL_FROM"], base_url=cfg["BASE_URL"],
    )


@job(queue="low", timeout=300)
def queue_review_reminders(session, *, today: str | None = None) -> int:
    """Queue reminders of plan reviews due soon (run daily: ``indgang plans remind``)."""
    from datetime import date

    return plans.queue_review_reminders(session, date.fromisoformat(today) if today else None)
