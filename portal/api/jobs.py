"""The API's jobs: delivering webhooks. Enqueued through the outbox by
``portal.services.webhooks.emit`` and ``replay``; retried by rq with the relay's
backoff when the receiver fails."""

from __future__ import annotations

from flask import current_app

from portal.jobs import job
from portal.services import webhooks


@job(queue="default", timeout=60)
def deliver_webhook(session, *, delivery_id: int) -> str:
    """Post one webhook delivery. Safe to run twice: a delivered one is not sent again."""
    production = current_app.config.get("INDGANG_ENV") == "production"
    delivery = webhooks.deliver(session, delivery_id, production=production)
    return delivery.status.value if delivery is not None else "missing"
