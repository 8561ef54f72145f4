"""Fixtures for the case area: a real SMTP server (aiosmtpd) that keeps what arrives."""

from __future__ import annotations

import pytest

from tests.support.net import free_port


class Inbox:
    """The messages an aiosmtpd server received, parsed."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        from email import message_from_bytes
        from email.policy import default

        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A local SMTP server on a free port; yields (port, Inbox)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture
def app_config(app_config, smtp_server):
    """Every app in this area sends mail to the test SMTP server."""
    return {**app_config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server[0], "BASE_URL": "https://indgang.test"}
