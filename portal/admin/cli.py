"""``indgang routing check`` and ``indgang routing simulate``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

_DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group("routing")
def routing_group() -> None:
    """Routing rules: check and simulate."""


def _load_file(path: str):
    from portal.services.routing import parse_source
    from routing.rules import RuleSetError

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        return parse_source(text, path)
    except RuleSetError as exc:
        click.echo(str(exc), err=True)
        click.echo("The rule set was refused; nothing was checked.", err=True)
        raise SystemExit(1) from None


@routing_group.command("check")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A rule set file (default: the rule set in force, from the database or the shipped default).",
)
@click.option(
    "--on",
    "on_day",
    type=_DATE,
    default=None,
    help="Check on this date (default: today and each later day the registry changes).",
)
@with_appcontext
def check_command(rules_file: str | None, on_day) -> None:
    """Report gaps, conflicts, shadowed rules and invalid targets; exit 1 on gaps or
    conflicts."""
    from portal.db import open_session
    from portal.services.deadlines import danish_today
    from portal.services.routing import rule_set_in_force
    from portal.services.rule_sets import check_days
    from routing.check import check_rule_set
    from routing.registry import load_default_registry

    day = on_day.date() if on_day else None
    if rules_file:
        rule_set = _load_file(rules_file)
    else:
        from portal.services.routing import NoRuleSetInForce

        try:
            with open_session() as session:
                loaded = rule_set_in_force(session, day or danish_today())
        except NoRuleSetInForce as exc:
            click.echo(str(exc), err=True)
            raise SystemExit(1) from None
        rule_set = loaded.rule_set
        click.echo(f"Rule set in force: version {loaded.version} ({loaded.origin})")
    days = [day] if day else check_days(rule_set, today=danish_today())
    registry = load_default_registry()
    failed = False
    for d in days:
        report = check_rule_set(rule_set, registry, d)
        click.echo(report.to_text())
        click.echo("")
        failed = failed or not report.ok
    raise SystemExit(1 if failed else 0)


@routing_group.command("simulate")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="The draft rule set file to replay past requests through.",
)
@click.option(
    "--since",
    "since",
    type=_DATE,
    required=True,
    help="Replay requests filed on or after this date.",
)
@with_appcontext
def simulate_command(rules_file: str, since) -> None:
    """Replay stored requests through a draft and report what would change."""
    from portal.db import open_session
    from portal.services.rule_sets import past_requests
    from routing.engine import compile_rule_set
    from routing.registry import load_default_registry
    from routing.simulate import simulate

    rule_set = _load_file(rules_file)
    engine = compile_rule_set(rule_set, load_default_registry())
    with open_session() as session:
        past = past_requests(session, since.date())
    click.echo(simulate(past, engine).to_text())
