"""``indgang worker``: rq's worker, set up to come back by itself after faults (issue 20).

- Redis down at start or while running: the worker waits until Redis answers before
  it builds rq's ``Worker`` (whose ``__init__`` already talks to Redis), and starts a
  new one, with back-off, whenever rq's loop ends on a connection error.
- A job whose worker was killed: its entry in rq's started registry lapses
  ``JOB_HEARTBEAT_GRACE`` seconds after the last heartbeat (rq's own margin is 60 s on
  top of the job's timeout or monitoring interval), and maintenance runs every
  ``WORKER_MAINTENANCE_INTERVAL`` instead of every ten minutes, so rq retries it soon.
- The scheduler: its lock lapses ``SCHEDULER_LOCK_TTL`` seconds after its last beat,
  the worker tries to take it at each maintenance, and it ends with its worker (the
  kernel sends it SIGTERM when the worker dies, so it gives its lock back).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.defaults import DEFAULT_WORKER_TTL
from rq.scheduler import RQScheduler

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Have this process receive ``sig`` when its parent dies (Linux: ``prctl``), and
    send it at once if the parent is already gone (it may die before the call).
    Elsewhere callers also check ``parent_alive``."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if not parent_alive(parent_pid):
        os.kill(os.getpid(), sig)


def parent_alive(parent_pid: int) -> bool:
    """True while ``parent_pid`` is still this process's parent (an orphan is adopted
    by another process)."""
    return os.getppid() == parent_pid


class Scheduler(RQScheduler):
    """rq's scheduler with a short lock and a life bound to its worker's."""

    lock_ttl = 15

    def __init__(self, *args, lock_ttl: int = 15, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock_ttl = lock_ttl
        self.worker_pid = os.getpid()

    def acquire_locks(self, auto_start: bool = False):
        locks = super().acquire_locks(auto_start=False)
        self._shorten_locks()
        if self._acquired_locks and auto_start and (not self._process or not self._process.is_alive()):
            self.start()
        return locks

    def heartbeat(self):
        super().heartbeat()
        self._shorten_locks()

    def _shorten_locks(self) -> None:
        # rq sets interval + 60 s; ours hold, so shortening them is safe.
        if not self._acquired_locks:
            return
        with self.connection.pipeline() as pipeline:
            for name in self._acquired_locks:
                pipeline.expire(self.get_locking_key(name), self.lock_ttl)
            pipeline.execute()

    def work(self):
        die_with_parent(self.worker_pid)
        super().work()


class _Recovering:
    """What ``indgang worker`` adds to rq's worker classes (see the module's text)."""

    heartbeat_grace = 20
    scheduler_lock_ttl = 15
    stop_asked = False

    def request_stop(self, signum, frame):
        # SIGTERM or SIGINT, busy or idle: stop instead of taking the end of rq's loop
        # for a failure and starting again.
        self.stop_asked = True
        super().request_stop(signum, frame)

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        if job.timeout and job.timeout > 0:
            remaining = max(1.0, job.timeout - working_time)
            return int(min(remaining, self.job_monitoring_interval)) + self.heartbeat_grace
        return self.job_monitoring_interval + self.heartbeat_grace

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=None, log_format=None):
        # rq's own, with our scheduler class.
        kwargs = {k: v for k, v in (("date_format", date_format), ("log_format", log_format)) if v}
        self.scheduler = Scheduler(self.queues, connection=self.connection, serializer=self.serializer,
                                   logging_level=logging_level if logging_level is not None else self.log.level,
                                   lock_ttl=self.scheduler_lock_ttl, **kwargs)
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()


class RecoveringWorker(_Recovering, Worker):
    """rq's forking worker (a child per job), heartbeating every
    ``job_monitoring_interval`` while a job runs."""


class RecoveringSimpleWorker(_Recovering, SimpleWorker):
    """rq's worker that runs jobs in its own process. It beats only between jobs, so a
    job's entry must outlast its timeout."""

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        if job.timeout == -1:
            return DEFAULT_WORKER_TTL
        return int(job.timeout or DEFAULT_WORKER_TTL) + self.heartbeat_grace


def make_worker(app: Flask, queues: list[str], connection: Redis, *, simple: bool = False):
    """An rq worker with the app's recovery settings. Talks to Redis (rq's
    ``__init__`` names the connection): raises ``RedisError`` when Redis is down."""
    cls = RecoveringSimpleWorker if simple else RecoveringWorker
    config = app.config
    worker = cls(queues, connection=connection, worker_ttl=int(config["WORKER_TTL"]),
                 job_monitoring_interval=int(config["JOB_MONITORING_INTERVAL"]),
                 maintenance_interval=int(config["WORKER_MAINTENANCE_INTERVAL"]))
    worker.heartbeat_grace = int(config["JOB_HEARTBEAT_GRACE"])
    worker.scheduler_lock_ttl = int(config["SCHEDULER_LOCK_TTL"])
    return worker


class _Stop(Exception):
    pass


def run_worker(app: Flask, queues: list[str], *, burst: bool = False, simple: bool = False,
               connection_factory=None, max_wait: float = 30.0) -> None:
    """Run rq's worker until SIGTERM or SIGINT (or, with ``burst``, until the queues are
    empty), building a new one whenever rq's loop ends on a Redis error and waiting,
    with back-off up to ``max_wait`` seconds, while Redis does not answer."""
    from portal.redis_conn import get_redis

    connect = connection_factory or (lambda: get_redis(app))
    stopping = False

    def _on_signal(signum, frame):
        nonlocal stopping
        stopping = True
        raise _Stop

    delay = 0.5
    while True:
        # Our handlers while no rq worker runs (rq installs its own in ``work``).
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        rq_worker = None
        try:
            if stopping:
                return
            connection = connect()
            connection.ping()
            rq_worker = make_worker(app, queues, connection, simple=simple)
            delay = 0.5
            rq_worker.work(with_scheduler=True, burst=burst)
        except _Stop:
            return
        except RedisError as exc:
            log.warning("worker: Redis unavailable (%s); trying again in %.1f s", type(exc).__name__, delay)
        finally:
            if rq_worker is not None:
                _end_scheduler(rq_worker)
        if rq_worker is not None and (burst or rq_worker.stop_asked):
            return
        if rq_worker is not None:
            log.warning("worker: stopped on an error; starting again in %.1f s", delay)
        try:
            signal.signal(signal.SIGTERM, _on_signal)
            signal.signal(signal.SIGINT, _on_signal)
            if stopping:
                return
            time.sleep(delay)
        except _Stop:
            return
        delay = min(delay * 2, max_wait)


def _end_scheduler(rq_worker) -> None:
    """Stop a scheduler process left by rq's loop (its teardown fails without Redis)."""
    scheduler = getattr(rq_worker, "scheduler", None)
    process = getattr(scheduler, "_process", None)
    if process is not None and process.is_alive():
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)
