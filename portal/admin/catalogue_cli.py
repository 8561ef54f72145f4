"""``indgang catalogue export`` and ``indgang catalogue import``: the service catalogue
as YAML, to keep in version control and move between environments."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("catalogue")
def catalogue_group() -> None:
    """The service catalogue: export and import as YAML."""


@catalogue_group.command("export")
@click.argument("output", type=click.File("w", encoding="utf-8"), default="-")
@with_appcontext
def export_command(output) -> None:
    """Write every stored service version as catalogue YAML (to OUTPUT, default stdout)."""
    from portal.db import open_session
    from portal.services.catalogue import export_catalogue

    with open_session() as session:
        output.write(export_catalogue(session))


@catalogue_group.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_command(source: str) -> None:
    """Store every service version of the catalogue YAML file SOURCE (audited). A bad
    file is refused with the problem named and nothing changes."""
    from portal.db import open_session
    from portal.services.catalogue import MAX_IMPORT_BYTES, CatalogueError, import_catalogue

    try:
        with open(source, "rb") as fh:
            raw = fh.read(MAX_IMPORT_BYTES + 1)
        with open_session() as session:
            count = import_catalogue(session, raw.decode("utf-8"), source)
    except UnicodeDecodeError:
        click.echo(f"{source}: not UTF-8 text; nothing was imported.", err=True)
        raise SystemExit(1) from None
    except CatalogueError as exc:
        click.echo(f"{exc}; nothing was imported.", err=True)
        raise SystemExit(1) from None
    click.echo(f"Imported {count} service versions from {source}.")
