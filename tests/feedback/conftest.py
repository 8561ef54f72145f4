"""Helpers shared by the feedback tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def login_as(login):
    """Log in as another user within one test. The ``session`` fixture keeps an app
    context open that the client's requests share, so what is cached on ``g`` (the
    user, the CSRF token) must go with the old login."""
    from flask import g, has_app_context

    def switch(user):
        if has_app_context():
            g.pop("current_user", None)
            g.pop("csrf_token", None)
        return login(user)

    return switch
