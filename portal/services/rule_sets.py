"""Administering routing rule sets: drafts, validation, simulation and publishing.

A draft can be edited until it is published; a published version is never edited,
only superseded by a later one. Publishing refuses a rule set with gaps or conflicts
on any day where the result could differ: its first day and every day within its
validity on which the authority registry changes (such as the 2027 region reform).
Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import AuditOutcome, Request, RoutingRecord, RuleSetStatus, User
from portal.models import RuleSet as RuleSetRow
from portal.models.base import utcnow
from portal.services import audit
from portal.services.routing import compiled, default_rule_set, default_source, parse_source
from routing.check import CheckReport, check_rule_set
from routing.facts import RequestFacts
from routing.registry import load_default_registry
from routing.rules import RuleSet, RuleSetError
from routing.simulate import SimulationReport, simulate

_VERSION_LINE = re.compile(r"^version:.*$", re.MULTILINE)


class RuleSetInvalid(ValueError):
    """The draft's text does not parse; ``problems`` are (line, rule id, message)."""

    def __init__(self, problems: list[tuple[int | None, str | None, str]]):
        self.problems = problems
        super().__init__("; ".join(m for _, _, m in problems))


class RuleSetLocked(PermissionError):
    """Only drafts can be edited or published."""


class PublishRefused(ValueError):
    """The rule set has gaps or conflicts on some day; ``reports`` show where."""

    def __init__(self, reports: list[CheckReport]):
        self.reports = reports
        super().__init__(
            "gaps or conflicts: " + ", ".join(r.day.isoformat() for r in reports if not r.ok)
        )


def list_rule_sets(session: Session) -> list[RuleSetRow]:
    """Every stored rule set, newest version first."""
    return list(session.scalars(select(RuleSetRow).order_by(RuleSetRow.version.desc())))


def get_rule_set(session: Session, row_id: int) -> RuleSetRow | None:
    return session.get(RuleSetRow, row_id)


def next_version(session: Session) -> int:
    """The version a new draft gets: one above every stored version and the default."""
    highest = session.scalar(select(func.max(RuleSetRow.version))) or 0
    return max(highest, default_rule_set().version) + 1


def new_draft_text(session: Session) -> str:
    """A starting text for a new draft: the newest published text (or the shipped
    default) with its version line set to the next version."""
    latest = session.scalars(
        select(RuleSetRow)
        .where(RuleSetRow.status != RuleSetStatus.DRAFT)
        .order_by(RuleSetRow.version.desc())
        .limit(1)
    ).first()
    text = latest.source if latest else default_source()[0]
    return with_version(text, next_version(session))


def with_version(text: str, version: int) -> str:
    """``text`` with its top-level ``version:`` line set to ``version``."""
    line = f"version: {version}"
    if _VERSION_LINE.search(text):
        return _VERSION_LINE.sub(line, text, count=1)
    return f"{line}\n{text}"


def _parse_draft(text: str, version: int) -> RuleSet:
    try:
        rule_set = parse_source(text, f"rule set {version}")
    except RuleSetError as exc:
        raise RuleSetInvalid(exc.problems) from None
    if rule_set.version != str(version):
        raise RuleSetInvalid(
            [
                (
                    1,
                    None,
                    f"the version in the text is {rule_set.version!r}; this draft is version {version}",
                )
            ]
        )
    return rule_set


def create_draft(
    session: Session, *, actor: User, text: str, note: str | None = None
) -> RuleSetRow:
    """Store ``text`` as a new draft with the next version. Commits.

    Raises ``RuleSetInvalid`` (nothing stored) when the text does not parse or its
    version is not the next one.
    """
    version = next_version(session)
    rule_set = _parse_draft(text, version)
    row = RuleSetRow(
        version=version,
        status=RuleSetStatus.DRAFT,
        valid_from=rule_set.valid_from,
        valid_to=rule_set.valid_to,
        source=text,
        note=(note or None),
        created_by_id=actor.id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor=actor, action="rule_set.draft_created", details={"version": version}
    )
    session.commit()
    return row


def update_draft(
    session: Session, row: RuleSetRow, *, actor: User, text: str, note: str | None = None
) -> RuleSetRow:
    """Replace a draft's text. Commits. Raises ``RuleSetLocked`` for a published or
    superseded version and ``RuleSetInvalid`` for text that does not parse."""
    if row.status is not RuleSetStatus.DRAFT:
        raise RuleSetLocked(f"rule set {row.version} is {row.status.value} and cannot be edited")
    rule_set = _parse_draft(text, row.version)
    row.source = text
    row.note = note or None
    row.valid_from = rule_set.valid_from
    row.valid_to = rule_set.valid_to
    audit.record(
        session, actor=actor, action="rule_set.draft_updated", details={"version": row.version}
    )
    session.commit()
    return row


def check_days(rule_set: RuleSet, today: date | None = None) -> list[date]:
    """The days on which to check ``rule_set``: its first day (or today, when that is
    later) and each later day in its validity on which the registry changes."""
    start = max(rule_set.valid_from, today) if today else rule_set.valid_from
    if rule_set.valid_to is not None and start >= rule_set.valid_to:
        start = rule_set.valid_from
    days = [start]
    for boundary in load_default_registry().boundaries():
        if boundary > start and (rule_set.valid_to is None or boundary < rule_set.valid_to):
            days.append(boundary)
    return days


def validate(row: RuleSetRow, day: date | None = None) -> list[CheckReport]:
    """Check a stored rule set on ``day``, or on every day ``check_days`` gives."""
    rule_set, _ = compiled(row.version, row.source, f"rule set {row.version}")
    days = [day] if day else check_days(rule_set)
    registry = load_default_registry()
    return [check_rule_set(rule_set, registry, d) for d in days]


def publish(session: Session, row: RuleSetRow, *, actor: User) -> RuleSetRow:
    """Publish a draft: it routes requests filed from its ``valid_from``, and earlier
    published versions become superseded. Commits.

    Raises ``RuleSetLocked`` if the row is not a draft, and ``PublishRefused`` when a
    check finds gaps or conflicts (the refusal is audited; nothing is published).
    """
    if row.status is not RuleSetStatus.DRAFT:
        raise RuleSetLocked(
            f"rule set {row.version} is {row.status.value}; publish a new draft instead"
        )
    reports = validate(row)
    if not all(r.ok for r in reports):
        audit.record(
            session,
            actor=actor,
            action="rule_set.publish",
            outcome=AuditOutcome.DENY,
            details={
                "version": row.version,
                "gaps": sum(len(r.gaps) for r in reports),
                "conflicts": sum(len(r.conflicts) for r in reports),
            },
        )
        session.commit()
        raise PublishRefused(reports)
    for older in session.scalars(
        select(RuleSetRow).where(
            RuleSetRow.status == RuleSetStatus.PUBLISHED, RuleSetRow.id != row.id
        )
    ):
        older.status = RuleSetStatus.SUPERSEDED
    row.status = RuleSetStatus.PUBLISHED
    row.published_at = utcnow()
    row.published_by_id = actor.id
    audit.record(
        session,
        actor=actor,
        action="rule_set.published",
        details={"version": row.version, "checked_on": [r.day.isoformat() for r in reports]},
    )
    session.commit()
    return row


def past_requests(session: Session, since: date) -> list[tuple[RequestFacts, dict]]:
    """Stored decisions of requests filed on or after ``since``: (facts, decision)."""
    rows = session.execute(
        select(RoutingRecord.decision)
        .join(Request, Request.id == RoutingRecord.request_id)
        .where(Request.filed_on >= since)
        .order_by(RoutingRecord.id)
    ).scalars()
    return [(RequestFacts.from_dict(d["facts"]), d) for d in rows]


@dataclass(frozen=True)
class Simulation:
    since: date
    report: SimulationReport


def simulate_rule_set(session: Session, row: RuleSetRow, since: date) -> Simulation:
    """Replay the requests filed since ``since`` through the stored rule set ``row``.

    Each request is routed with the facts stored with its decision; requests filed
    before the rule set's first day count as getting no target from it.
    """
    _, engine = compiled(row.version, row.source, f"rule set {row.version}")
    return Simulation(since, simulate(past_requests(session, since), engine))
