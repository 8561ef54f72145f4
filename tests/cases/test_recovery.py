"""Recovery in seconds (issue 20): real worker, relay and scheduler processes and a
Redis server of the test's own, killed and restarted. The settings are made small by
``Processes`` (seconds); the defaults meet the issue's goals in minutes.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select

from portal.models import OutboxMessage, OutboxStatus
from portal.services.outbox import relay
from tests.cases import test_reliability
from tests.cases.processes import file_request
from tests.cases.test_reliability import POSTGRES, _Blocker, all_routed, counts, make_people
from tests.support.net import wait_for

world = test_reliability.world  # the fixture: a database, a Redis server of its own, processes


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _log(w, proc) -> Path:
    return w.procs.log_dir / f"worker-{w.procs.running.index(proc)}.log"


def test_a_routing_job_killed_mid_run_with_its_worker_is_routed_soon_and_once(world):
    """The worker and the child running the job are SIGKILLed before the job commits;
    another worker's maintenance and the relay's upkeep retry it once its heartbeat
    lapses, and it routes the request with one case."""
    w = world
    [citizen] = make_people(w)
    with w.session() as s:
        request_id = file_request(s, citizen)
    with w.session() as s:
        assert relay(s, w.redis()) == 1
        job_id = f"outbox-{s.scalar(select(OutboxMessage.id))}"
    blocker = _Blocker(w, request_id)
    try:
        doomed = w.procs._start("worker", "worker", "--no-relay", "--queues", "default,low")  # forking
        registry = StartedJobRegistry("default", connection=w.redis())
        wait_for(lambda: job_id in registry.get_job_ids(cleanup=False), 60, message="the job to start")
        horses = [pid for pid in w.procs.children(doomed) if os.getpgid(pid) == pid]  # rq's child per job
        assert len(horses) == 1
        os.killpg(doomed.pid, signal.SIGKILL)  # the worker and its scheduler
        doomed.wait(10)
        os.kill(horses[0], signal.SIGKILL)
        killed = time.monotonic()
    finally:
        blocker.release()
    assert Job.fetch(job_id, connection=w.redis()).get_status() == JobStatus.STARTED
    w.procs.relay()
    w.procs.worker()
    wait_for(lambda: all_routed(w, 1), 60, interval=0.3, message="the killed job, retried")
    took = time.monotonic() - killed
    c = counts(w)
    assert (c["cases"], c["distinct_case_requests"], c["notifications"], len(w.smtp.messages)) == (1, 1, 1, 1)
    # 2 s grace, about 1 s for the cleanup, rq's first backoff of 10 s, the run.
    assert took < 30, took
    print(f"killed job routed {took:.1f} s after the kill")


def test_a_worker_started_while_redis_is_down_comes_up_when_it_returns_and_again_after_a_restart(world):
    w = world
    citizens = make_people(w, 2)
    w.redis_server.stop()
    worker = w.procs.worker()
    w.procs.relay()
    with w.session() as s:
        file_request(s, citizens[0])
    time.sleep(4)
    assert worker.poll() is None, w.procs.logs()  # waiting, not dead
    w.redis_server.start()
    wait_for(lambda: all_routed(w, 1), 40, interval=0.3, message="routing once Redis is back")
    # Redis goes away while the worker runs, and comes back empty.
    w.redis_server.stop()
    with w.session() as s:
        file_request(s, citizens[1], n=1)
    time.sleep(3)
    assert worker.poll() is None, w.procs.logs()
    w.redis_server.start()
    wait_for(lambda: all_routed(w, 2), 40, interval=0.3, message="routing after the second outage")
    assert worker.poll() is None


def test_the_relay_and_the_scheduler_end_with_their_worker(world):
    w = world
    worker = w.procs._start("worker", "worker", "--simple", "--queues", "default,low")  # with its relay
    log = _log(w, worker)
    wait_for(lambda: b"Scheduler for" in log.read_bytes(), 30, message="the scheduler to start")
    children = wait_for(lambda: len(w.procs.children(worker)) == 2 and w.procs.children(worker), 30,
                        message="the relay and the scheduler")
    w.procs.kill(worker)  # SIGKILL: no chance to stop them itself
    wait_for(lambda: not any(_alive(pid) for pid in children), 5, message="the relay and scheduler to end")
    # The scheduler was told (SIGTERM) and gave its lock back.
    assert w.redis().get("rq:scheduler-lock:default") is None


def test_the_scheduler_is_back_soon_after_its_worker_is_killed(world):
    """Worker A holds the scheduler lock; A and its scheduler are SIGKILLed together
    (no lock given back). Worker B takes over as soon as the lock lapses."""
    w = world
    a = w.procs.worker()
    lock = "rq:scheduler-lock:default"
    wait_for(lambda: w.redis().get(lock), 30, message="A's scheduler")
    first_owner = w.redis().get(lock)
    b = w.procs.worker()
    wait_for(lambda: b"Listening on" in _log(w, b).read_bytes(), 30, message="worker B")
    os.killpg(a.pid, signal.SIGKILL)
    a.wait(10)
    killed = time.monotonic()
    wait_for(lambda: w.redis().get(lock) not in (None, first_owner), 20, interval=0.2, message="B's scheduler")
    took = time.monotonic() - killed
    job = Queue("default", connection=w.redis()).enqueue_in(timedelta(seconds=1), "portal.jobs.ping", note="back")
    wait_for(lambda: job.get_status() == JobStatus.FINISHED, 20, interval=0.2, message="a scheduled job")
    assert took < 10, took


def test_a_filing_reaches_rq_at_once(world):
    """PostgreSQL: the relay polls only every 30 s here, yet the filing's commit wakes
    it (LISTEN/NOTIFY from the outbox's trigger). SQLite: the default 0.2 s poll."""
    w = world
    if POSTGRES:
        w.procs.env["RELAY_INTERVAL"] = "30"
    w.procs._start("relay", "relay")  # its default poll
    [citizen] = make_people(w)
    waits = []
    for n in range(6):
        with w.session() as s:
            file_request(s, citizen, n=n)
        filed = time.monotonic()

        def enqueued():
            with w.session() as s:
                return not s.scalar(select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.PENDING))

        wait_for(enqueued, 40, interval=0.005, message="the relay")
        waits.append(time.monotonic() - filed)
    waits = waits[1:]  # the first waited for the relay to start
    assert max(waits) < (0.5 if POSTGRES else 1.0), waits
