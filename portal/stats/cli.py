"""``indgang stats refresh|clock`` and ``indgang demo generate``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


def register(app: Flask) -> None:
    """Add the ``stats`` group, and ``generate`` to the ``demo`` group."""
    from portal.cli import demo_group

    app.cli.add_command(stats_group)
    if "generate" not in demo_group.commands:
        demo_group.add_command(demo_generate)


@click.group("stats")
def stats_group() -> None:
    """Statistics: pre-aggregated tables for the dashboard and the public results."""


@stats_group.command("refresh")
@click.option("--full", is_flag=True, help="Recompute everything, not only what changed.")
@with_appcontext
def stats_refresh(full: bool) -> None:
    """Fold new case events into the statistics tables now (no worker needed)."""
    from portal.db import open_session
    from portal.services.stats import refresh

    with open_session() as session:
        result = refresh(session, full=full)
    if result.skipped:
        click.echo("another refresh is running; nothing done")
        return
    click.echo(f"statistics refreshed: {result.requests} requests, {result.days} days, {result.seconds:.1f} s")


@stats_group.command("clock")
@click.option("--interval", default=900, show_default=True, help="Seconds between incremental refreshes.")
@click.option("--full-hour", default=2, show_default=True, help="UTC hour of the daily full refresh.")
@click.option("--once", is_flag=True, help="Queue one refresh and exit.")
@with_appcontext
def stats_clock(interval: int, full_hour: int, once: bool) -> None:
    """Queue refresh jobs for the worker: every ``interval`` seconds, and a full one daily.

    Run it as its own process (Procfile ``clock``) next to the worker.
    """
    from portal.db import open_session
    from portal.services.stats import schedule_refresh

    last_full = None
    while True:
        now = datetime.now(UTC)
        full = now.hour == full_hour and last_full != now.date()
        with open_session(current_app) as session:
            added = schedule_refresh(session, full=full)
        if full and added:
            last_full = now.date()
        if once:
            click.echo("refresh queued" if added else "a refresh is already waiting")
            return
        time.sleep(interval)


@click.command("generate")
@click.option("--requests", "count", default=10_000, show_default=True, help="How many requests to create.")
@click.option("--years", default=2.0, show_default=True, help="How far back the history reaches.")
@click.option("--seed", default=8, show_default=True)
@click.option("--no-refresh", is_flag=True, help="Do not refresh the statistics afterwards.")
@with_appcontext
def demo_generate(count: int, years: float, seed: int, no_refresh: bool) -> None:
    """Create a realistic history fast: seasonal volume, misrouting, handovers, delays."""
    from portal.db import open_session
    from portal.services.stats import refresh
    from portal.stats.demo import generate_history

    started = time.perf_counter()
    with open_session() as session:
        made = generate_history(session, count, years=years, seed=seed)
    click.echo(
        f"generated {made['requests']} requests, {made['cases']} cases, {made['events']} events, "
        f"{made['handovers']} handovers in {time.perf_counter() - started:.1f} s"
    )
    if not no_refresh:
        with open_session() as session:
            result = refresh(session, full=True)
        click.echo(f"statistics refreshed in {result.seconds:.1f} s")
