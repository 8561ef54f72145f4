"""The development identity provider: a small OpenID provider for local use and tests.

``create_idp_app()`` builds a separate Flask app (run by ``indgang idp``) that offers
discovery, JWKS, authorize (a page listing the demo people), token, userinfo,
end-session and back-channel logout. It refuses to start in production.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel

DEFAULT_ISSUER = "http://127.0.0.1:5001"
DEFAULT_MUNICIPALITY_CLAIM = "urn:indgang:claims:municipality_code"
DEFAULT_LOA_CLAIM = "loa"
LANGUAGES = ("da", "en")


def default_clients(portal_url: str = "http://127.0.0.1:5000") -> list[dict]:
    """The portal as registered at the provider when nothing else is configured."""
    urls = {portal_url, portal_url.replace("127.0.0.1", "localhost")}
    return [
        {
            "client_id": "indgang-portal",
            "client_secret": "indgang-dev-secret",  # noqa: S105 - development only
            "redirect_uris": sorted(f"{u}/auth/callback/dev" for u in urls),
            "post_logout_redirect_uris": sorted(f"{u}/auth/logged-out" for u in urls),
            "backchannel_logout_uri": f"{portal_url}/auth/backchannel-logout/dev",
        }
    ]


def create_idp_app(config: dict | None = None) -> Flask:
    """Build the development identity provider.

    Config keys (all optional): ``IDP_ISSUER``, ``IDP_CLIENTS`` (list of client dicts:
    client_id, client_secret or jwks + token_endpoint_auth_method, redirect_uris,
    post_logout_redirect_uris, backchannel_logout_uri), ``IDP_PEOPLE_FILE``,
    ``IDP_PEOPLE_KINDS`` (e.g. ``["citizen"]`` for a citizen-only provider),
    ``IDP_MUNICIPALITY_CLAIM``, ``IDP_LOA_CLAIM``, ``IDP_STORE_PATH``,
    ``IDP_KEY_PATH``, ``IDP_TEST_MODE`` (enables the /test fault endpoints),
    ``SECRET_KEY``.

    Raises ``RuntimeError`` when ``INDGANG_ENV`` (config or environment) is production.
    """
    config = dict(config or {})
    env = config.get("INDGANG_ENV") or os.environ.get("INDGANG_ENV", "development")
    if env.strip().lower() in ("production", "prod"):
        raise RuntimeError(
            "The development identity provider must not run in production "
            "(INDGANG_ENV=production). Configure a real OpenID provider instead."
        )

    from .people import load_demo_people
    from .server import EndSession, Provider, RegisteredClient, build_authorization_server
    from .store import IdpStore
    from .tokens import TokenMinter, load_or_create_key
    from .views import bp

    app = Flask(__name__, instance_relative_config=False)
    app.config.update(
        SECRET_KEY=os.urandom(32).hex(),
        # A name of its own: the portal on the same host keeps its own cookie.
        SESSION_COOKIE_NAME="indgang_idp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        IDP_ISSUER=os.environ.get("INDGANG_IDP_ISSUER", DEFAULT_ISSUER),
        IDP_CLIENTS=None,
        IDP_PEOPLE_FILE=None,
        IDP_PEOPLE_KINDS=("citizen", "staff"),
        IDP_MUNICIPALITY_CLAIM=DEFAULT_MUNICIPALITY_CLAIM,
        IDP_LOA_CLAIM=DEFAULT_LOA_CLAIM,
        IDP_STORE_PATH=None,
        IDP_KEY_PATH=None,
        IDP_TEST_MODE=False,
        IDP_BACKCHANNEL_TIMEOUT=5,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).resolve().parent.parent / "translations"),
        BABEL_DEFAULT_LOCALE="da",
    )
    app.config.update(config)
    issuer = app.config["IDP_ISSUER"].rstrip("/")
    app.config["IDP_ISSUER"] = issuer

    instance = Path(app.instance_path)
    store = IdpStore(app.config["IDP_STORE_PATH"] or instance / "idp.sqlite3")
    key = load_or_create_key(app.config["IDP_KEY_PATH"] or instance / "idp_signing_key.json")
    minter = TokenMinter(issuer, key, store)
    people = [
        p for p in load_demo_people(app.config["IDP_PEOPLE_FILE"])
        if p.kind in app.config["IDP_PEOPLE_KINDS"]
    ]
    client_configs = app.config["IDP_CLIENTS"] or default_clients()
    clients = [RegisteredClient.from_config(c) for c in client_configs]
    provider = Provider(
        issuer, people, clients, store, minter,
        municipality_claim=app.config["IDP_MUNICIPALITY_CLAIM"],
        loa_claim=app.config["IDP_LOA_CLAIM"],
    )
    server = build_authorization_server(app, provider)
    end_session = EndSession()
    end_session.provider = provider
    server.register_endpoint(end_session)
    app.extensions["indgang_idp"] = provider
    app.extensions["indgang_idp_server"] = server

    def select_locale():
        lang = request.args.get("lang")
        if lang in LANGUAGES:
            session["lang"] = lang
            return lang
        if session.get("lang") in LANGUAGES:
            return session["lang"]
        return request.accept_languages.best_match(LANGUAGES) or "da"

    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    return app
