"""Fixtures for the development identity provider: a live provider on loopback."""

from __future__ import annotations

import pytest
from joserfc.jwk import RSAKey

from portal.idp import create_idp_app
from tests.support.idp_constants import (
    CLIENT_ID,
    CLIENT_SECRET,
    JWT_CLIENT_ID,
    POST_LOGOUT_URI,
    REDIRECT_URI,
)
from tests.support.live import LiveServer


@pytest.fixture(scope="session")
def client_key():
    """The private key of the private_key_jwt test client."""
    return RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"}, private=True,
                               auto_kid=True)


@pytest.fixture
def backchannel_sink():
    """A tiny receiver for back-channel logout tokens; records what it gets."""
    from flask import Flask, request

    received: list[str] = []
    app = Flask("sink")

    @app.post("/backchannel")
    def backchannel():
        received.append(request.form.get("logout_token"))
        return "", 200

    server = LiveServer().start(app)
    server.received = received
    yield server
    server.stop()


@pytest.fixture
def idp(tmp_path, client_key, backchannel_sink):
    """A running development provider in test mode with two registered clients."""
    server = LiveServer()
    app = create_idp_app({
        "IDP_ISSUER": server.url,
        "IDP_STORE_PATH": str(tmp_path / "idp.sqlite3"),
        "IDP_KEY_PATH": str(tmp_path / "idp_key.json"),
        "IDP_TEST_MODE": True,
        "IDP_CLIENTS": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [REDIRECT_URI],
                "post_logout_redirect_uris": [POST_LOGOUT_URI],
                "backchannel_logout_uri": backchannel_sink.url + "/backchannel",
            },
            {
                "client_id": JWT_CLIENT_ID,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [client_key.as_dict(private=False)]},
                "redirect_uris": [REDIRECT_URI],
            },
        ],
    })
    server.start(app)
    server.app = app
    yield server
    server.stop()
