"""Indgang's web portal: ``create_app`` builds the Flask app.

Nothing happens at import: no connections, no environment reads, no app creation.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Create the portal app.

    ``config`` overrides settings read from the environment (tests pass their own).
    With no ``DATABASE_URL`` the app uses SQLite in its instance folder; with no
    ``REDIS_URL`` it starts an embedded Redis on first use.
    """
    from portal.config import instance_path, load_config

    settings = load_config()
    settings.update(config or {})
    app = Flask(
        __name__,
        instance_path=str(instance_path(settings) or ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(settings)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'indgang.db'}"

    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    _init_extensions(app)
    from portal import numbers

    numbers.init_app(app)  # the bounded id converter, before any route is added
    _register_blueprints(app)

    from portal import cli

    cli.register(app)
    return app


def _init_extensions(app: Flask) -> None:
    from portal import auth, db, errors, formatting, redis_conn, security
    from portal.extensions import babel, csrf, htmx, select_locale

    db.init_app(app)
    redis_conn.init_app(app)
    auth.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(Path(__file__).parent / "translations"))
    csrf.init_app(app)
    htmx.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    formatting.init_app(app)  # after Babel: our date filters replace its own

    from flask_babel import get_locale

    from portal.auth import current_user

    @app.context_processor
    def _globals():
        from portal import limits

        return {"current_user": current_user, "current_locale": str(get_locale()), "limits": limits,
                "session_idle_seconds": lambda: int(app.config["SESSION_IDLE_TIMEOUT"].total_seconds())}


def _register_blueprints(app: Flask) -> None:
    from portal.admin.views import bp as admin_bp
    from portal.api.views import bp as api_bp
    from portal.caseworker.admin import bp as jobs_admin_bp
    from portal.caseworker.views import bp as caseworker_bp
    from portal.citizen.views import bp as citizen_bp
    from portal.coordination.views import bp as coordination_bp
    from portal.feedback.views import bp as feedback_bp
    from portal.health.views import bp as health_bp
    from portal.main.views import bp as main_bp
    from portal.plans.views import bp as plans_bp
    from portal.privacy.views import bp as privacy_bp
    from portal.stats.views import blueprints as stats_blueprints

    for bp in (main_bp, health_bp, admin_bp, caseworker_bp, jobs_admin_bp, privacy_bp, plans_bp,
               api_bp, *stats_blueprints, feedback_bp, coordination_bp, citizen_bp):
        app.register_blueprint(bp)

    from portal import auth

    # Last: it adds a citizen overview only if no other blueprint has one.
    auth.register_blueprints(app)
