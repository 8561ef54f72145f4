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
