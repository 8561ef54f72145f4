"""``indgang api``: manage the API's machine clients."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext


@click.group("api")
def api_group() -> None:
    """The API for authorities' own systems."""


@api_group.group("client")
def client_group() -> None:
    """Machine clients (OAuth 2 client credentials)."""


@client_group.command("create")
@click.option("--authority", "authority_id", required=True, help="e.g. municipality-461 (Odense Kommune)")
@click.option("--scopes", required=True, help="Comma or space separated: cases:read, cases:write, registry:read, webhooks:manage")
@click.option("--name", default=None, help="A name for the client's system.")
@click.option("--auth-method", type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt"]),
              default="client_secret_basic", show_default=True)
@click.option("--jwks", "jwks_file", type=click.File("r"), default=None,
              help="A JSON file with the client's public JWK set (private_key_jwt).")
@with_appcontext
def client_create(authority_id, scopes, name, auth_method, jwks_file) -> None:
    """Create a client; prints its id and (once) its secret."""
    from portal.db import open_session
    from portal.services.api_clients import ApiClientError, create_client

    jwks = json.load(jwks_file) if jwks_file else None
    with open_session() as session:
        try:
            made = create_client(session, authority_id=authority_id, name=name, auth_method=auth_method,
                                 scopes=scopes.replace(",", " ").split(), jwks=jwks)
        except ApiClientError as exc:
            raise click.ClickException(str(exc))
        click.echo(f"client_id:     {made.client.client_id}")
        click.echo(f"authority:     {made.client.authority_id}")
        click.echo(f"scope:         {made.client.scope}")
        click.echo(f"auth method:   {made.client.auth_method}")
        if made.secret:
            click.echo(f"client_secret: {made.secret}")
            click.echo("Store the secret now: it is kept only as a hash and cannot be shown again.")


@client_group.command("list")
@with_appcontext
def client_list() -> None:
    """List clients (never their secrets)."""
    from portal.db import open_session
    from portal.services.api_clients import list_clients

    with open_session() as session:
        for c in list_clients(session):
            state = "revoked" if c.revoked_at else "active"
            click.echo(f"{c.client_id:<40} {c.authority_id:<24} {c.auth_method:<20} {state:<8} {c.scope}")


@client_group.command("revoke")
@click.argument("client_id")
@with_appcontext
def client_revoke(client_id) -> None:
    """Revoke a client: its tokens stop working at once."""
    from portal.db import open_session
    from portal.services.api_clients import ApiClientError, revoke_client

    with open_session() as session:
        try:
            revoke_client(session, client_id)
        except ApiClientError as exc:
            raise click.ClickException(str(exc))
    click.echo(f"revoked {client_id}")


@client_group.command("rotate-secret")
@click.argument("client_id")
@with_appcontext
def client_rotate_secret(client_id) -> None:
    """Give a client a new secret (printed once); its current tokens stop working."""
    from portal.db import open_session
    from portal.services.api_clients import ApiClientError, rotate_secret

    with open_session() as session:
        try:
            secret = rotate_secret(session, client_id)
        except ApiClientError as exc:
            raise click.ClickException(str(exc))
    click.echo(f"client_secret: {secret}")
    click.echo("Store the secret now: it is kept only as a hash and cannot be shown again.")
