"""``/metrics``: operations metrics in the Prometheus text format.

Exposed: queue depth per rq queue, failed jobs per queue, the outbox (pending rows and
the age of the oldest one: the relay's lag), and a histogram of request latency per
endpoint, measured by before/after-request hooks in each web process.

Access: with ``METRICS_TOKEN`` set, a request must carry ``Authorization: Bearer
<token>``; without it, only loopback clients (a scraper on the same host or a sidecar)
are answered. Everyone else gets 404, so the endpoint is not advertised. The latency
histogram is per process: scrape each web process (or sum them in Prometheus).
"""

from __future__ import annotations

import hmac
import threading
import time
from bisect import bisect_left

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from sqlalchemy import func, select

bp = Blueprint("metrics", __name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUEUES = ("high", "default", "low")
LOOPBACK = {"127.0.0.1", "::1"}


class LatencyHistogram:
    """Request durations per (method, endpoint, status class); thread-safe."""

    def __init__(self, buckets=LATENCY_BUCKETS):
        self.buckets = tuple(buckets)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str, str], list] = {}

    def observe(self, labels: tuple[str, str, str], seconds: float) -> None:
        with self._lock:
            series = self._series.setdefault(labels, [[0] * (len(self.buckets) + 1), 0.0, 0])
            series[0][bisect_left(self.buckets, seconds)] += 1
            series[1] += seconds
            series[2] += 1

    def render(self, name: str) -> list[str]:
        lines = [f"# HELP {name} Time to answer an HTTP request.", f"# TYPE {name} histogram"]
        with self._lock:
            items = sorted(self._series.items())
            snapshot = [(k, list(v[0]), v[1], v[2]) for k, v in items]
        for (method, endpoint, status), counts, total, n in snapshot:
            base = f'method="{method}",endpoint="{_escape(endpoint)}",status="{status}"'
            running = 0
            for bound, c in zip(self.buckets, counts, strict=False):
                running += c
                lines.append(f'{name}_bucket{{{base},le="{bound}"}} {running}')
            lines.append(f'{name}_bucket{{{base},le="+Inf"}} {n}')
            lines.append(f"{name}_sum{{{base}}} {total:.6f}")
            lines.append(f"{name}_count{{{base}}} {n}")
        return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@bp.record_once
def _install(state) -> None:
    install(state.app)


def install(app: Flask) -> None:
    """Measure every request of ``app`` (done when the blueprint is registered)."""
    histogram = LatencyHistogram()
    app.extensions["latency_histogram"] = histogram

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            # Endpoint names, not paths: a bounded set of labels.
            endpoint = request.endpoint or "unmatched"
            histogram.observe((request.method, endpoint, f"{response.status_code // 100}xx"),
                              time.perf_counter() - started)
        return response


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    # A loopback address with a forwarding header is a proxy on this host passing on
    # someone else's request (TRUSTED_PROXIES unset): not a local scraper.
    return request.remote_addr in LOOPBACK and "X-Forwarded-For" not in request.headers


@bp.get("/metrics")
def metrics() -> Response:
    if not _allowed():
        abort(404)
    lines = _queue_lines() + _outbox_lines()
    lines += current_app.extensions["latency_histogram"].render("indgang_http_request_duration_seconds")
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


def _queue_lines() -> list[str]:
    from redis.exceptions import RedisError
    from rq import Queue
    from rq.registry import FailedJobRegistry

    from portal.redis_conn import get_redis

    lines = [
        "# HELP indgang_queue_depth Jobs waiting in an rq queue.",
        "# TYPE indgang_queue_depth gauge",
    ]
    failed = [
        "# HELP indgang_jobs_failed Jobs in an rq queue's failed registry.",
        "# TYPE indgang_jobs_failed gauge",
    ]
    up = 1
    try:
        conn = get_redis()
        for name in QUEUES:
            queue = Queue(name, connection=conn)
            lines.append(f'indgang_queue_depth{{queue="{name}"}} {queue.count}')
            failed.append(f'indgang_jobs_failed{{queue="{name}"}} {FailedJobRegistry(queue=queue).count}')
    except RedisError:
        up = 0
    return [*lines, *failed, "# HELP indgang_redis_up Whether Redis answered.", "# TYPE indgang_redis_up gauge",
            f"indgang_redis_up {up}"]


def _outbox_lines() -> list[str]:
    from portal.db import get_session
    from portal.models import OutboxMessage, OutboxStatus
    from portal.models.base import utcnow

    session = get_session()
    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.status == OutboxStatus.PENDING)
    ).one()
    if isinstance(oldest, str):  # SQLite aggregate: no type processing on MIN()
        from datetime import UTC, datetime

        oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
    elif oldest is not None and oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    lag = (utcnow() - oldest).total_seconds() if oldest else 0.0
    failed = session.scalar(select(func.count()).where(OutboxMessage.status == OutboxStatus.FAILED))
    return [
        "# HELP indgang_outbox_pending Outbox rows committed but not yet moved to rq.",
        "# TYPE indgang_outbox_pending gauge",
        f"indgang_outbox_pending {pending}",
        "# HELP indgang_outbox_lag_seconds Age of the oldest pending outbox row.",
        "# TYPE indgang_outbox_lag_seconds gauge",
        f"indgang_outbox_lag_seconds {max(0.0, lag):.3f}",
        "# HELP indgang_outbox_failed Outbox rows whose job failed for good.",
        "# TYPE indgang_outbox_failed gauge",
        f"indgang_outbox_failed {failed}",
    ]
