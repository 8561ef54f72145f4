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


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """panva's oidc-provider (npm) set up like a MitID broker, one for the session."""
    from tests.support.broker import Broker

    started = Broker(tmp_path_factory.mktemp("broker"))
    yield started
    started.stop()


@pytest.fixture
def broker_stack_factory(broker, live_database_url, redis_url, tmp_path):
    """``broker_stack_factory(**overrides)``: a portal registered at the broker."""
    from portal import redis_conn
    from tests.support.broker import start_broker_stack

    started = []

    def start(**overrides):
        folder = tmp_path / f"portal{len(started)}"
        folder.mkdir()
        stack = start_broker_stack(broker, database_url=live_database_url, redis_url=redis_url,
                                   tmp_path=folder, **overrides)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()
        redis_conn.close(stack.portal_app)
        stack.portal_app.extensions["db"].engine.dispose()


@pytest.fixture
def broker_stack(broker_stack_factory):
    return broker_stack_factory()
