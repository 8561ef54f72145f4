"""``indgang idp`` runs the development provider, and refuses in production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path, redis_url, **extra) -> dict:
    env = dict(os.environ)
    env.update({
        "INDGANG_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "REDIS_URL": redis_url,
        "BASE_URL": "http://127.0.0.1:5999",
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


def test_indgang_idp_serves_discovery_for_the_portal(tmp_path, redis_url):
    port = free_port()
    env = _env(tmp_path, redis_url, INDGANG_ENV="development")
    proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "idp", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
        for _ in range(100):
            try:
                meta = requests.get(url, timeout=1).json()
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise AssertionError(proc.stdout.read1().decode() if proc.poll() is not None else
                                 "provider did not start")
        assert meta["issuer"] == f"http://127.0.0.1:{port}"
        assert (tmp_path / "idp_signing_key.json").exists()
        page = requests.get(f"http://127.0.0.1:{port}/authorize", timeout=5, params={
            "response_type": "code", "client_id": "indgang-portal", "scope": "openid",
            "redirect_uri": "http://127.0.0.1:5999/auth/callback/dev", "nonce": "n" * 20,
            "state": "s" * 20, "code_challenge": "c" * 43, "code_challenge_method": "S256"})
        assert page.status_code == 200 and "Karen Holm Jensen" in page.text
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def test_indgang_idp_refuses_in_production(tmp_path, redis_url):
    env = _env(tmp_path, redis_url, INDGANG_ENV="production", SECRET_KEY="k" * 32)
    result = subprocess.run([sys.executable, "-m", "portal.cli", "idp", "--port",
                             str(free_port())], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "production" in (result.stdout + result.stderr)
