"""``indgang idp``: run the development identity provider."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("idp")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True)
@click.option("--issuer", default=None, help="Issuer URL (default http://HOST:PORT).")
@click.option("--portal-url", default=None,
              help="Where the portal runs, for its redirect URIs (default BASE_URL).")
@with_appcontext
def idp_command(host: str, port: int, issuer: str | None, portal_url: str | None) -> None:
    """Run the development identity provider (refuses to run in production)."""
    from werkzeug.serving import run_simple

    try:
        app = build_idp_app(host, port, issuer, portal_url)
    except RuntimeError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"development identity provider on http://{host}:{port} "
               f"for {app.config['IDP_PORTAL_URL']}")
    run_simple(host, port, app, threaded=True, use_reloader=False)


def build_idp_app(host: str, port: int, issuer: str | None, portal_url: str | None):
    """The provider for the portal of the current app context, state in its instance."""
    from pathlib import Path

    from portal.idp import create_idp_app, default_clients

    portal_url = (portal_url or current_app.config.get("BASE_URL") or
                  "http://127.0.0.1:5000").rstrip("/")
    instance = Path(current_app.instance_path)
    return create_idp_app({
        "IDP_PORTAL_URL": portal_url,
        "INDGANG_ENV": current_app.config.get("INDGANG_ENV"),
        "IDP_ISSUER": issuer or f"http://{host}:{port}",
        "IDP_CLIENTS": default_clients(portal_url),
        "IDP_STORE_PATH": str(instance / "idp.sqlite3"),
        "IDP_KEY_PATH": str(instance / "idp_signing_key.json"),
    })
