"""Webhooks: events from the case services reach a real receiver on loopback through
the outbox and the worker, once each, signed; a failing receiver gets the event on the
third try after the relay's backoff; deliveries are logged and can be replayed."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from portal.models import CaseStatus, DeliveryStatus, OutboxMessage, WebhookDelivery
from portal.redis_conn import get_redis
from portal.services import cases, webhooks
from portal.services.deadlines import danish_today
from portal.services.outbox import RETRY_INTERVALS, relay
from tests.api.conftest import AARHUS, ODENSE, Api, get_token
from tests.factories import make_case, make_citizen, make_request

ALL_EVENTS = ["case.created", "case.handover", "case.deadline_warning"]


class Receiver:
    """An HTTP server on loopback that keeps what it gets; fails the first ``fail`` posts."""

    def __init__(self, fail: int = 0):
        self.received: list[tuple[dict, bytes]] = []
        self.fail = fail
        self.calls = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls += 1
                if receiver.calls <= receiver.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/indgang"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver():
    made = Receiver()
    made.thread.start()
    yield made
    made.server.shutdown()


@pytest.fixture
def failing_receiver():
    made = Receiver(fail=2)
    made.thread.start()
    yield made
    made.server.shutdown()


def subscribe(api: Api, url: str, events=ALL_EVENTS) -> dict:
    response = api.post("/api/v1/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.json
    return response.json


def run_worker(app, session) -> None:
    """Relay committed outbox rows to rq and run them all, as the worker would."""
    redis = get_redis(app)
    relay(session, redis)
    with app.app_context():
        SimpleWorker(["default"], connection=redis).work(burst=True)


def advance_backoff(app, expected_delay: int) -> None:
    """Let time pass for rq's retry schedule: move each scheduled job to its queue now,
    after checking it was scheduled about ``expected_delay`` seconds ahead."""
    from rq.job import Job
    from rq.utils import now

    redis = get_redis(app)
    queue = Queue("default", connection=redis)
    registry = ScheduledJobRegistry(queue=queue)
    job_ids = registry.get_job_ids()
    assert job_ids, "a failed delivery must be scheduled for a retry"
    for job_id in job_ids:
        delay = (registry.get_scheduled_time(job_id) - now()).total_seconds()
        assert expected_delay - 5 <= delay <= expected_delay + 1, delay
        registry.remove(job_id)
        queue.enqueue_job(Job.fetch(job_id, connection=redis))


def test_each_event_reaches_the_receiver_once_signed(app, session, client, odense_api, receiver):
    subscription = subscribe(odense_api, receiver.url)
    assert subscription["secret"].startswith("whsec_")
    # A new case at Odense (the routing job opens it).
    citizen = make_citizen(session, municipality_code="461")
    request = make_request(session, citizen, service_type_slug="home-care")
    session.commit()
    opened = [c for c in cases.route_request(session, request.id) if c.authority_id == ODENSE]
    # A handover from Aarhus to Odense.
    from tests.factories import make_staff

    aarhus_case = make_case(session, make_request(session, make_citizen(session, "751")), authority_id=AARHUS)
    session.commit()
    handover = cases.reject_case(session, make_staff(session, AARHUS), aarhus_case.id,
                                 reason="Borgeren er flyttet til Odense", to_authority_id=ODENSE)
    # A deadline warning on an Odense case.
    soon = make_case(session, make_request(session, citizen), authority_id=ODENSE,
                     status=CaseStatus.ACCEPTED, target_due=danish_today() + timedelta(days=1))
    session.commit()
    cases.watch_deadlines(session)

    run_worker(app, session)
    run_worker(app, session)  # a second run sends nothing again

    events = receiver.events()
    assert sorted(e["type"] for e in events) == sorted(ALL_EVENTS)
    by_type = {e["type"]: e for e in events}
    assert by_type["case.created"]["data"]["case_id"] == opened[0].id
    assert by_type["case.handover"]["data"]["handover_id"] == handover.id
    assert by_type["case.deadline_warning"]["data"]["case_id"] == soon.id
    for headers, body in receiver.received:
        assert webhooks.verify(subscription["secret"], headers, body)
        assert not webhooks.verify(subscription["secret"], headers, body + b" ")
        assert headers["webhook-id"] == json.loads(body)["id"]
    # Aarhus subscribed to nothing, and no personal data travels in the events.
    assert all(e["authority_id"] == ODENSE for e in events)
    assert citizen.name not in json.dumps(events)


def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_try(app, session, odense_api, failing_receiver):
    subscription = subscribe(odense_api, failing_receiver.url, ["case.created"])
    request = make_request(session, make_citizen(session, municipality_code="461"), service_type_slug="home-care")
    session.commit()
    cases.route_request(session, request.id)

    run_worker(app, session)  # first try: 500
    advance_backoff(app, RETRY_INTERVALS[0])
    run_worker(app, session)  # second try: 500
    advance_backoff(app, RETRY_INTERVALS[1])
    run_worker(app, session)  # third try: delivered

    assert failing_receiver.calls == 3
    assert len(failing_receiver.received) == 1
    headers, body = failing_receiver.received[0]
    assert webhooks.verify(subscription["secret"], headers, body)
    log = odense_api.get(f"/api/v1/webhooks/{subscription['id']}/deliveries").json["items"]
    assert len(log) == 1
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 3 and log[0]["last_status_code"] == 204


def test_a_delivery_can_be_replayed_with_the_same_event_id(app, session, odense_api, receiver):
    subscription = subscribe(odense_api, receiver.url, ["case.created"])
    request = make_request(session, make_citizen(session, municipality_code="461"), service_type_slug="home-care")
    session.commit()
    cases.route_request(session, request.id)
    run_worker(app, session)
    delivery = odense_api.get(f"/api/v1/webhooks/{subscription['id']}/deliveries").json["items"][0]
    replayed = odense_api.post(f"/api/v1/webhooks/{subscription['id']}/deliveries/{delivery['id']}/replay")
    assert replayed.status_code == 202 and replayed.json["replay_of_id"] == delivery["id"]
    run_worker(app, session)
    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert ids == [delivery["event_id"], delivery["event_id"]]


def test_a_rolled_back_change_sends_nothing(session, odense_api, receiver):
    subscribe(odense_api, receiver.url)
    before = session.scalar(select(func.count()).select_from(OutboxMessage))
    webhooks.emit(session, ODENSE, "case.created", {"case_id": 1})
    session.rollback()
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


@pytest.mark.parametrize("url,production,ok", [
    ("https://sag.odense.dk/indgang", True, True),
    ("http://sag.odense.dk/indgang", False, False),
    ("http://127.0.0.1:8080/hook", False, True),
    ("http://127.0.0.1:8080/hook", True, False),
    ("ftp://127.0.0.1/hook", False, False),
    ("https://user:pw@sag.odense.dk/", True, False),
    ("https://10.0.0.7/hook", True, False),
    ("https://169.254.169.254/latest", True, False),
])
def test_only_https_endpoints_except_loopback_outside_production(url, production, ok):
    assert (webhooks.check_url(url, production=production) is None) == ok


def test_subscriptions_are_per_authority(client, session, odense_api, aarhus_api, receiver):
    mine = subscribe(odense_api, receiver.url)
    assert aarhus_api.get(f"/api/v1/webhooks/{mine['id']}").status_code == 404
    assert aarhus_api.delete(f"/api/v1/webhooks/{mine['id']}").status_code == 404
    assert aarhus_api.get("/api/v1/webhooks").json["items"] == []
    listed = odense_api.get("/api/v1/webhooks").json["items"]
    assert [s["id"] for s in listed] == [mine["id"]] and "secret" not in listed[0]
    assert odense_api.delete(f"/api/v1/webhooks/{mine['id']}").status_code == 204
    assert odense_api.get(f"/api/v1/webhooks/{mine['id']}").status_code == 404


def test_a_bad_subscription_is_a_422_problem(odense_api):
    response = odense_api.post("/api/v1/webhooks", json={"url": "http://example.test/hook", "events": ["case.created"]})
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "url"
    unknown = odense_api.post("/api/v1/webhooks", json={"url": "https://example.test/", "events": ["case.deleted"]})
    assert unknown.status_code == 422


def test_a_signature_older_than_five_minutes_is_refused():
    secret = webhooks.new_secret()
    body = b'{"id":"evt_1"}'
    headers = {"webhook-id": "evt_1", "webhook-timestamp": "1000000000",
               "webhook-signature": webhooks.sign(secret, "evt_1", 1000000000, body)}
    assert webhooks.verify(secret, headers, body, now=1000000000 + 60)
    assert not webhooks.verify(secret, headers, body, now=1000000000 + 301)


def test_a_delivered_event_is_not_sent_again_when_the_job_runs_twice(app, session, odense_api, receiver):
    subscribe(odense_api, receiver.url, ["case.created"])
    deliveries = webhooks.emit(session, ODENSE, "case.created", {"case_id": 1})
    session.commit()
    production = False
    webhooks.deliver(session, deliveries[0].id, production=production)
    webhooks.deliver(session, deliveries[0].id, production=production)
    assert len(receiver.received) == 1
    assert session.get(WebhookDelivery, deliveries[0].id).status == DeliveryStatus.DELIVERED


def test_webhook_management_needs_its_scope(client, session):
    from tests.api.conftest import new_client

    made = new_client(session, ODENSE, scopes=["cases:read"])
    api = Api(client, get_token(client, made))
    assert api.get("/api/v1/webhooks").status_code == 403


def test_in_production_the_worker_posts_to_public_addresses_only():
    assert not webhooks.resolves_to_public_addresses("localhost")
    assert not webhooks.resolves_to_public_addresses("10.1.2.3")
    assert webhooks.resolves_to_public_addresses("8.8.8.8")


def test_creating_a_subscription_twice_with_one_key_makes_one(odense_api, receiver):
    headers = {"Idempotency-Key": "subscribe-1"}
    body = {"url": receiver.url, "events": ["case.created"]}
    first = odense_api.post("/api/v1/webhooks", json=body, headers=headers)
    again = odense_api.post("/api/v1/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert len(odense_api.get("/api/v1/webhooks").json["items"]) == 1
