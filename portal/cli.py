"""The ``indgang`` command: a Flask CLI group around ``create_app``.

Commands: ``db upgrade``, ``authorities list``, ``demo load``, ``worker``, ``relay``,
``mailsink`` and ``dev`` (web, worker, the development identity provider and, with no
SMTP server configured, the mail sink together). Other areas add their own groups
through ``register``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from portal import ROOT


def _create_app():
    from portal import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True)
def main() -> None:
    """Indgang: one entrance to the public sector."""


def register(app: Flask) -> None:
    """Attach the commands to ``app`` (so ``flask --app portal`` has them too)."""
    from portal.admin.cli import routing_group
    from portal.api.cli import api_group
    from portal.auth.check import oidc_group
    from portal.idp.cli import idp_command

    for command in (db_group, authorities_group, demo_group, worker, relay_command, mailsink, dev,
                    routing_group, idp_command, api_group, oidc_group):
        app.cli.add_command(command)
    from portal.plans.cli import plans_group

    app.cli.add_command(plans_group)
    from portal.admin.catalogue_cli import catalogue_group

    app.cli.add_command(catalogue_group)
    from portal.stats.cli import register as register_stats

    register_stats(app)


# --- database -----------------------------------------------------------------------


def alembic_config(app: Flask):
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = app.config["DATABASE_URL"]
    return cfg


def upgrade_database(app: Flask) -> None:
    """Run every migration, then load the authority registry and the service catalogue (idempotent)."""
    from alembic import command

    from portal.db import open_session
    from portal.services.catalogue import sync_service_types
    from portal.services.registry import sync_registry

    command.upgrade(alembic_config(app), "head")
    with open_session(app) as session:
        sync_registry(session)
        sync_service_types(session)


@click.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Migrate to the newest schema and load the authority registry."""
    upgrade_database(current_app)
    click.echo(f"database ready: {current_app.extensions['db'].engine.url.render_as_string(hide_password=True)}")


# --- registry -----------------------------------------------------------------------


@click.group("authorities")
def authorities_group() -> None:
    """The authority registry."""


@authorities_group.command("list")
@click.option("--on", "on_day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Show the registry valid on this date (default: today).")
@with_appcontext
def authorities_list(on_day) -> None:
    """List the authorities valid on a date, with each municipality's region."""
    from portal.db import open_session
    from portal.services.deadlines import danish_today
    from portal.services.registry import authorities_on, region_of

    day = on_day.date() if on_day else danish_today()
    with open_session() as session:
        rows = authorities_on(session, day)
        click.echo(f"Authorities valid on {day.isoformat()}: {len(rows)}")
        for a in rows:
            region = region_of(session, a.id, day) if a.kind.value == "municipality" else None
            suffix = f"  [{region.name_da}]" if region else ""
            click.echo(f"{a.kind.value:<13} {a.code or '-':<5} {a.id:<28} {a.name_da}{suffix}")


# --- demo data ----------------------------------------------------------------------


@click.group("demo")
def demo_group() -> None:
    """Demo data for trying the service."""


@demo_group.command("load")
@with_appcontext
def demo_load() -> None:
    """Create the demo people of the development identity provider (idempotent)."""
    from portal.db import open_session
    from portal.services.demo import load_demo

    with open_session() as session:
        counts = load_demo(session, current_app.config)
    click.echo("demo data: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


# --- worker -------------------------------------------------------------------------


@click.command("relay")
@click.option("--once", is_flag=True, help="Move what is pending now, then exit.")
@click.option("--interval", type=float, default=None,
              help="Seconds between polls (default RELAY_INTERVAL: 1 on PostgreSQL, 0.2 on SQLite).")
@with_appcontext
def relay_command(once: bool, interval: float | None) -> None:
    """Move committed outbox rows into rq (safe to run several at once)."""
    from portal.services.relay import run_relay

    parent = os.environ.get("INDGANG_RELAY_PARENT")  # set by ``indgang worker`` for its relay
    run_relay(current_app, once=once, interval=interval, parent_pid=int(parent) if parent else None)


@click.command("worker")
@click.option("--queues", default="high,default,low", show_default=True)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--no-relay", is_flag=True, help="Do not start the outbox relay beside the worker.")
@click.option("--simple", is_flag=True, help="Run jobs in the worker process (no fork per job).")
@with_appcontext
def worker(queues: str, burst: bool, no_relay: bool, simple: bool) -> None:
    """Run an rq worker with the scheduler, inside an app context.

    The outbox relay runs beside it as its own process (a thread would be unsafe
    next to rq's fork per job).
    """
    from portal.queue_worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    relay_proc = None
    if not no_relay and not burst:
        # The relay ends with this process (INDGANG_RELAY_PARENT: see ``run_relay``).
        env = {**_child_env(), "INDGANG_RELAY_PARENT": str(os.getpid())}
        relay_proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "relay"], env=env)
    from portal import jobs

    jobs.preload(current_app)
    try:
        # Waits Redis out, at start and after rq's loop ends on an error (jobs lost
        # with Redis are recovered from the outbox by the relay).
        run_worker(current_app, queues.split(","), burst=burst, simple=simple)
    finally:
        if relay_proc is not None:
            relay_proc.terminate()
            relay_proc.wait(10)


def _child_env() -> dict:
    """The environment for child processes: same database and Redis as this one."""
    from portal.redis_conn import redis_url

    env = dict(os.environ)
    env["DATABASE_URL"] = current_app.config["DATABASE_URL"]
    env["REDIS_URL"] = redis_url(current_app)
    env.setdefault("SECRET_KEY", current_app.config["SECRET_KEY"])
    env["INDGANG_INSTANCE_PATH"] = current_app.instance_path
    return env


@click.command("mailsink")
@click.option("--port", type=int, default=None, help="Default: SMTP_PORT.")
@with_appcontext
def mailsink(port: int | None) -> None:
    """Development only: accept e-mail on 127.0.0.1 and keep each message as a file in
    the instance folder's ``mail/``, sending nothing on, so that a developer reads what
    citizens and staff would get. ``indgang dev`` starts it when SMTP_HOST is not set."""
    from datetime import UTC, datetime
    from email import message_from_bytes
    from email.policy import default
    from pathlib import Path

    if current_app.config.get("INDGANG_ENV") == "production":
        raise click.ClickException("the mail sink is for development; production sends through SMTP_HOST")
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        raise click.ClickException("the mail sink needs aiosmtpd: pip install -e '.[dev]'") from None
    folder = Path(current_app.instance_path) / "mail"
    folder.mkdir(parents=True, exist_ok=True)

    class Keep:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            path = folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}.eml"
            path.write_bytes(envelope.content)
            subject = message_from_bytes(envelope.content, policy=default)["Subject"]
            click.echo(f"mail to {', '.join(envelope.rcpt_tos)}: {subject} ({path})")
            return "250 Message accepted"

    port = port or int(current_app.config["SMTP_PORT"])
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    click.echo(f"development mail sink on 127.0.0.1:{port}, keeping messages in {folder}")
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
    try:
        while not stopped:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


def uses_dev_idp(environ, idp_url: str) -> bool:
    """Whether the portal started with ``environ`` logs in through the development
    identity provider at ``idp_url``: with no OIDC_PROVIDERS (then it is the only
    provider), or when one of them has that issuer."""
    if not environ.get("OIDC_PROVIDERS"):
        return True
    try:
        entries = json.loads(environ["OIDC_PROVIDERS"])
    except ValueError:
        return False  # the portal itself will say what is wrong with the setting
    return any(isinstance(e, dict) and str(e.get("issuer", "")).rstrip("/") == idp_url.rstrip("/")
               for e in entries or [])


def dev_commands(port: int, idp_port: int, environ, smtp_port: int | None = None) -> dict[str, list[str]]:
    """The processes ``indgang dev`` runs, by name: the development identity provider
    only when the portal logs in through it, the mail sink only when no SMTP_HOST is
    set (then on ``smtp_port``, default SMTP_PORT)."""
    py = sys.executable
    commands = {
        "web": [py, "-m", "flask", "--app", "portal:create_app", "run", "--port", str(port), "--no-reload"],
        "worker": [py, "-m", "portal.cli", "worker"],
    }
    idp_url = environ.get("IDP_URL") or f"http://127.0.0.1:{idp_port}"
    if "idp" in current_app.cli.commands and uses_dev_idp(environ, idp_url):
        commands["idp"] = [py, "-m", "portal.cli", "idp", "--port", str(idp_port)]
    if "SMTP_HOST" not in environ:  # no mail server of one's own: keep mail in files
        sink_port = smtp_port or int(environ.get("SMTP_PORT") or current_app.config["SMTP_PORT"])
        commands["mail"] = [py, "-m", "portal.cli", "mailsink", "--port", str(sink_port)]
    return commands


@click.command("dev")
@click.option("--port", default=5000, show_default=True, envvar="INDGANG_PORT",
              help="The portal's port (or INDGANG_PORT).")
@click.option("--idp-port", default=5001, show_default=True, envvar="INDGANG_IDP_PORT",
              help="The development identity provider's port, when it is used (or INDGANG_IDP_PORT).")
@click.option("--smtp-port", type=int, default=None, envvar="SMTP_PORT",
              help="The mail sink's port, when it is used (default SMTP_PORT, 8025).")
@with_appcontext
def dev(port: int, idp_port: int, smtp_port: int | None) -> None:
    """Run web, worker and, when they are used, the development identity provider
    (no OIDC_PROVIDERS, or one with its issuer) and the mail sink (no SMTP_HOST set,
    ``indgang mailsink``), for one developer. Every port can be set, so that two
    instances run side by side on one host.

    With no REDIS_URL an embedded Redis starts here and the children share it.
    """
    env = _child_env()
    env.setdefault("INDGANG_ENV", "development")
    env.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("IDP_URL", f"http://127.0.0.1:{idp_port}")
    commands = dev_commands(port, idp_port, os.environ, smtp_port)
    if "mail" in commands:  # the worker sends to the sink on the port it listens on
        env["SMTP_PORT"] = commands["mail"][-1]
    procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
    click.echo(f"Indgang runs on http://127.0.0.1:{port} (stop with Ctrl-C)")
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping and all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        from portal import redis_conn

        redis_conn.close(current_app)
    failed = [name for name, p in procs.items() if p.returncode not in (0, -15, None)]
    if failed and not stopping:
        raise SystemExit(f"stopped because {', '.join(failed)} exited")


if __name__ == "__main__":
    main()
