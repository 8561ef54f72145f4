"""The development mail sink: ``indgang dev`` with no SMTP server of one's own keeps
what the service would e-mail as files, instead of failing every notification."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
from email.message import EmailMessage

from portal.cli import dev_commands
from tests.support.net import free_port, wait_for


def test_dev_starts_the_mail_sink_only_without_an_smtp_server(app):
    with app.app_context():
        assert "mail" in dev_commands(5000, 5001, {})
        assert "mail" not in dev_commands(5000, 5001, {"SMTP_HOST": "smtp.kommune.dk"})


def test_the_mail_sink_keeps_each_message_as_a_file(tmp_path):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", INDGANG_INSTANCE_PATH=str(tmp_path),
               SECRET_KEY="test", INDGANG_ENV="development", REDIS_URL="redis://127.0.0.1:1/0")
    sink = subprocess.Popen([sys.executable, "-m", "portal.cli", "mailsink", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        def sent() -> bool:
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "indgang@test", "borger@test", "Din sag IG-1"
            message.set_content("Se din sag: https://indgang.test/mine")
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
                    smtp.send_message(message)
                return True
            except OSError:
                return False

        wait_for(sent, message="the mail sink accepts a message")
        files = list((tmp_path / "mail").glob("*.eml"))
        assert len(files) == 1 and b"Subject: Din sag IG-1" in files[0].read_bytes()
    finally:
        sink.terminate()
        out, _ = sink.communicate(timeout=10)
    assert sink.returncode == 0
    assert "mail to borger@test: Din sag IG-1" in out


def test_dev_starts_the_development_provider_only_when_the_portal_uses_it(app):
    broker = '[{"name": "mitid", "issuer": "https://broker.example/", "client_id": "c", "client_secret": "s"}]'
    both = ('[{"name": "mitid", "issuer": "https://broker.example/", "client_id": "c", "client_secret": "s"},'
            ' {"name": "dev", "issuer": "http://127.0.0.1:6001", "client_id": "c", "client_secret": "s"}]')
    with app.app_context():
        assert "idp" in dev_commands(5000, 5001, {})
        assert "idp" not in dev_commands(5000, 5001, {"OIDC_PROVIDERS": broker})
        assert "idp" in dev_commands(5000, 6001, {"OIDC_PROVIDERS": both})
        assert "idp" not in dev_commands(5000, 5001, {"OIDC_PROVIDERS": both})


def test_every_port_of_dev_can_be_set(app):
    with app.app_context():
        commands = dev_commands(6000, 6001, {}, smtp_port=6025)
        assert commands["web"][-3:] == ["--port", "6000", "--no-reload"]
        assert commands["idp"][-2:] == ["--port", "6001"]
        assert commands["mail"][-2:] == ["--port", "6025"]
        assert dev_commands(6000, 6001, {"SMTP_PORT": "7025"})["mail"][-1] == "7025"


def test_two_dev_instances_run_side_by_side(tmp_path):
    """Two ``indgang dev`` on one host, each with its own ports, both serve."""
    import requests

    procs = []
    try:
        for n in range(2):
            port, idp_port, smtp_port = free_port(), free_port(), free_port()
            folder = tmp_path / f"i{n}"
            folder.mkdir()
            env = {k: v for k, v in os.environ.items() if k not in ("SMTP_HOST", "OIDC_PROVIDERS", "REDIS_URL")}
            env.update(DATABASE_URL=f"sqlite:///{folder / 'x.db'}", INDGANG_INSTANCE_PATH=str(folder),
                       SECRET_KEY="test", INDGANG_ENV="development")
            procs.append((subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "portal.cli", "dev", "--port", str(port), "--idp-port", str(idp_port),
                 "--smtp-port", str(smtp_port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True), port, idp_port))
        for proc, port, idp_port in procs:
            wait_for(lambda port=port: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok,
                     timeout=60, message="the portal")
            wait_for(lambda idp_port=idp_port: requests.get(
                f"http://127.0.0.1:{idp_port}/.well-known/openid-configuration", timeout=2).ok,
                timeout=60, message="the development provider")
            assert proc.poll() is None
    finally:
        for proc, _, _ in procs:
            proc.terminate()
        for proc, _, _ in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
