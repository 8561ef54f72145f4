"""Webhooks: authorities' endpoints told about new cases, handovers and deadline warnings.

``emit`` is called by the case services inside their transaction: it writes one
delivery row and one outbox row per matching subscription, so an event is sent only
if the change commits, and is never lost if it does. The worker's job
(``portal.api.jobs.deliver_webhook``) posts it, signed the Standard Webhooks way:

    webhook-id:        the event id (the same on every retry and replay)
    webhook-timestamp: Unix seconds when this attempt was signed
    webhook-signature: "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))

where ``key`` is the base64-decoded part of the subscription secret after
``whsec_``. A failed attempt raises, so rq retries it with the relay's backoff; every
attempt is in the delivery log, and a delivery can be replayed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
import uuid
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.orm import Session

from portal.models import DeliveryStatus, User, WebhookDelivery, WebhookSubscription
from portal.models.base import utcnow
from portal.services import audit, outbox

EVENT_TYPES = ("case.created", "case.handover", "case.deadline_warning")
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
TIMEOUT_SECONDS = 10


class WebhookError(ValueError):
    """A subscription cannot be made as asked; ``errors`` maps fields to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class DeliveryFailed(RuntimeError):
    """The receiver did not answer 2xx; raised so rq retries the job."""


class SubscriptionNotFound(LookupError):
    """No such subscription at this authority (missing or another authority's)."""


class DeliveryNotFound(LookupError):
    """No such delivery for this subscription."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, *, production: bool) -> str | None:
    """Why ``url`` cannot receive webhooks, or None if it can.

    HTTPS only; plain http is allowed to loopback outside production (for tests and
    local development).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "The URL is not valid."
    if len(url) > 500 or not parts.hostname:
        return "Give an absolute URL of at most 500 characters."
    if parts.username or parts.password:
        return "The URL must not carry credentials."
    if parts.scheme == "https":
        if production and _is_ip(parts.hostname) and not ipaddress.ip_address(parts.hostname).is_global:
            return "The URL must point to a public address."
        return None
    if parts.scheme == "http" and not production and _is_loopback(parts.hostname):
        return None
    return "The URL must use https."


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolves_to_public_addresses(host: str) -> bool:
    """Whether every address ``host`` resolves to is public: in production the worker
    posts nowhere inside our own network (no SSRF through a subscription)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_global for info in infos)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def subscribe(session: Session, *, actor: User, authority_id: str, url: str, events: list[str],
              production: bool, created_by_client_id: int | None = None,
              audit_details: dict | None = None) -> WebhookSubscription:
    """Register ``url`` for ``events`` of ``authority_id``, with an audit row. Commits.
    Raises ``WebhookError`` for a bad URL or unknown event types."""
    errors = {}
    problem = check_url(url, production=production)
    if problem:
        errors["url"] = problem
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if not events or unknown:
        errors["events"] = f"Choose events among {', '.join(EVENT_TYPES)}."
    if errors:
        raise WebhookError(errors)
    subscription = WebhookSubscription(
        authority_id=authority_id, url=url, events=[e for e in EVENT_TYPES if e in events],
        secret=new_secret(), created_by_client_id=created_by_client_id,
    )
    session.add(subscription)
    session.flush()
    audit.record(session, actor=actor, action="webhook.create",
                 details={"subscription_id": subscription.id, "events": subscription.events, **(audit_details or {})})
    session.commit()
    return subscription


def unsubscribe(session: Session, subscription: WebhookSubscription, *, actor: User,
                audit_details: dict | None = None) -> None:
    """Stop a subscription (its log stays), with an audit row. Commits."""
    subscription.active = False
    audit.record(session, actor=actor, action="webhook.delete",
                 details={"subscription_id": subscription.id, **(audit_details or {})})
    session.commit()


def deliveries_of(session: Session, subscription: WebhookSubscription, limit: int = 50) -> list[WebhookDelivery]:
    """The newest ``limit`` deliveries of a subscription, newest first."""
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
                                .order_by(WebhookDelivery.id.desc()).limit(limit)))


def subscription_of(session: Session, authority_id: str, subscription_id: int) -> WebhookSubscription:
    """The active subscription if it belongs to ``authority_id``; raises
    ``SubscriptionNotFound`` otherwise (missing or another authority's alike)."""
    row = session.get(WebhookSubscription, subscription_id)
    if row is None or row.authority_id != authority_id or not row.active:
        raise SubscriptionNotFound(subscription_id)
    return row


def subscriptions_of(session: Session, authority_id: str) -> list[WebhookSubscription]:
    return list(session.scalars(_subscriptions_of(), {"authority_id": authority_id}))


@functools.cache
def _subscriptions_of() -> Select:
    return (
        select(WebhookSubscription)
        .where(WebhookSubscription.authority_id == bindparam("authority_id"), WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)
    )


def in_use() -> ColumnElement[bool]:
    """SQL: does any authority have an active subscription? (Cheap to ask inside
    another query, so that routing skips the per-case lookup where none exist.)"""
    return select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True)).exists()


def emit(session: Session, authority_id: str, event_type: str, payload: dict) -> list[WebhookDelivery]:
    """Queue ``event_type`` for every active subscription of ``authority_id``, in the
    caller's transaction (no commit, no network).

    ``payload`` is the event's ``data``: plain JSON with ids and references only, no
    personal data (receivers fetch the case through the API). Raises ``ValueError``
    for an unknown event type.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event_id = f"evt_{uuid.uuid4().hex}"
    body = {"id": event_id, "type": event_type, "created_at": utcnow().isoformat(),
            "authority_id": authority_id, "data": payload}
    deliveries = []
    for subscription in subscriptions_of(session, authority_id):
        if event_type not in subscription.events:
            continue
        delivery = WebhookDelivery(subscription_id=subscription.id, event_id=event_id,
                                   event_type=event_type, payload=body)
        session.add(delivery)
        session.flush()
        _queue(session, delivery)
        deliveries.append(delivery)
    return deliveries


def case_data(case, **extra) -> dict:
    """The ``data`` of a case event: ids and dates, never personal data."""
    return {
        "case_id": case.id,
        "reference": case.reference,
        "service": case.request.service_type_slug if case.request else None,
        "status": case.status.value if case.status else None,
        "target_due": case.target_due.isoformat() if case.target_due else None,
        "limit_due": case.limit_due.isoformat() if case.limit_due else None,
        **extra,
    }


def _queue(session: Session, delivery: WebhookDelivery) -> None:
    from portal.api.jobs import deliver_webhook

    outbox.add_job(session, deliver_webhook, delivery_id=delivery.id)


def replay(session: Session, subscription: WebhookSubscription, delivery_id: int, *, actor: User,
           audit_details: dict | None = None) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery with the same event id, with an
    audit row. Commits. Raises ``DeliveryNotFound`` if the delivery is not the
    subscription's."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise DeliveryNotFound(delivery_id)
    again = WebhookDelivery(subscription_id=delivery.subscription_id, event_id=delivery.event_id,
                            event_type=delivery.event_type, payload=delivery.payload,
                            replay_of_id=delivery.id)
    session.add(again)
    session.flush()
    _queue(session, again)
    audit.record(session, actor=actor, action="webhook.replay",
                 details={"subscription_id": subscription.id, "delivery_id": delivery.id,
                          "new_delivery_id": again.id, **(audit_details or {})})
    session.commit()
    return again


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """Check a received delivery (what a receiver does; used by the tests and docs)."""
    try:
        event_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        signatures = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, event_id, timestamp, body)
    return any(hmac.compare_digest(expected, s) for s in signatures)


def deliver(session: Session, delivery_id: int, *, production: bool) -> WebhookDelivery | None:
    """Post one delivery to its receiver. Safe to run twice: a delivered one is left
    alone. Commits the attempt; raises ``DeliveryFailed`` on a non-2xx answer or a
    network error, so the job is retried."""
    import requests

    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status == DeliveryStatus.DELIVERED:
        return delivery
    subscription = delivery.subscription
    if not subscription.active:
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = "subscription removed"
        session.commit()
        return delivery
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "Indgang-Webhooks/1",
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(subscription.secret, delivery.event_id, timestamp, body),
    }
    delivery.attempts += 1
    delivery.last_attempt_at = utcnow()
    error = check_url(subscription.url, production=production)
    if error is None and production and not resolves_to_public_addresses(urlsplit(subscription.url).hostname):
        error = "the receiver's address is not public"
    status = None
    if error is None:
        try:
            response = requests.post(subscription.url, data=body, headers=headers,
                                     timeout=TIMEOUT_SECONDS, allow_redirects=False)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"receiver answered {status}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
    delivery.last_status_code = status
    delivery.last_error = error
    if error is None:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = utcnow()
    else:
        delivery.status = DeliveryStatus.FAILED
    session.commit()
    if error is not None:
        raise DeliveryFailed(f"delivery {delivery.id}: {error}")
    return delivery
