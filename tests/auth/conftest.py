"""Fixtures for login tests: the portal and the development provider on loopback."""

from __future__ import annotations

import pytest

from tests.support.oidc import start_stack


@pytest.fixture
def stack_factory(live_database_url, redis_url, tmp_path):
    """``stack_factory(**overrides)`` starts provider + portal; stopped after the test."""
    from portal import redis_conn

    started = []

    def start(**overrides):
        folder = tmp_path / f"stack{len(started)}"
        folder.mkdir()
        stack = start_stack(database_url=live_database_url, redis_url=redis_url,
                            tmp_path=folder, **overrides)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()
        redis_conn.close(stack.portal_app)
        stack.portal_app.extensions["db"].engine.dispose()


@pytest.fixture
def stack(stack_factory):
    return stack_factory()
