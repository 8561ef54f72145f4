"""Routing in the portal: the rule set in force on a date, compiled once per version,
and the routing decision for a filed request.

Rule sets live in the ``rule_sets`` table; while no published version covers a date,
the default shipped in ``routing/rules/default.yaml`` applies. Every decision stored
records the version of the rule set that made it.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import ColumnElement, Date, bindparam, or_, select
from sqlalchemy.orm import Session, aliased

from portal.models import Request, RequestStatus, RoutingRecord, RuleSetStatus, User
from portal.models import RuleSet as RuleSetRow
from portal.services import audit
from portal.services.deadlines import danish_today
from routing import default_rules_path
from routing.decision import RoutingDecision
from routing.engine import CompiledRuleSet, NoRoute, UnknownMunicipality, compile_rule_set
from routing.facts import RequestFacts
from routing.registry import load_default_registry
from routing.rules import RuleSet, parse_rule_set

DEFAULT_ORIGIN = "default"
DATABASE_ORIGIN = "database"


class NoRuleSetInForce(NoRoute):
    """Neither the database nor the shipped default has a rule set for the date."""


@dataclass(frozen=True)
class LoadedRuleSet:
    """A rule set ready for routing, and where it came from."""

    version: int
    rule_set: RuleSet
    compiled: CompiledRuleSet
    origin: str  # "database" or "default"
    row_id: int | None = None


# (version, sha256 of the text) -> parsed and compiled rule set. A published version is
# never edited, so its entry stays right; drafts change text and so change the key.
_compiled: dict[tuple[int, str], tuple[RuleSet, CompiledRuleSet]] = {}
_lock = threading.Lock()


def parse_source(text: str, source_name: str) -> RuleSet:
    """Parse a rule set's YAML text; raises ``routing.rules.RuleSetError``."""
    from portal.services.catalogue import routing_service_types

    return parse_rule_set(text, source_name, load_default_registry(), routing_service_types())


def compiled(version: int, text: str, source_name: str) -> tuple[RuleSet, CompiledRuleSet]:
    """The parsed and compiled rule set for ``text``, cached per version and text."""
    key = (version, hashlib.sha256(text.encode("utf-8")).hexdigest())
    found = _compiled.get(key)
    if found is None:
        rule_set = parse_source(text, source_name)
        found = (rule_set, compile_rule_set(rule_set, load_default_registry()))
        with _lock:
            if len(_compiled) > 64:  # drafts come and go; keep the cache small
                _compiled.clear()
            _compiled[key] = found
    return found


def default_source() -> tuple[str, str]:
    """The shipped default rule set: (text, file name for messages)."""
    path: Path = default_rules_path()
    return path.read_text(encoding="utf-8"), "routing/rules/default.yaml"


_default: dict[str, LoadedRuleSet] = {}


def default_rule_set() -> LoadedRuleSet:
    """The shipped default, parsed and compiled once per file content (parsing the
    YAML costs about 50 ms, which every filing and routing job would pay; reading and
    hashing the file costs about 20 µs)."""
    text, name = default_source()
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    found = _default.get(key)
    if found is None:
        rule_set = parse_source(text, name)
        version = int(rule_set.version)
        rule_set, engine = compiled(version, text, name)
        found = LoadedRuleSet(version, rule_set, engine, DEFAULT_ORIGIN)
        with _lock:
            _default.clear()
            _default[key] = found
    return found


def load_row(row: RuleSetRow) -> LoadedRuleSet:
    """A stored rule set, parsed and compiled (cached)."""
    rule_set, engine = compiled(row.version, row.source, f"rule set {row.version}")
    return LoadedRuleSet(row.version, rule_set, engine, DATABASE_ORIGIN, row.id)


# A published rule set is never edited, so (row id, version, published at) names its
# text for good: the routing of each request need not fetch and hash the text again.
_published: dict[tuple, LoadedRuleSet] = {}


def in_force_on(day) -> ColumnElement[int]:
    """SQL for the id of the newest published (or since superseded) rule set valid on
    ``day`` (a date, or a date column so that it can sit inside another query)."""
    candidate = aliased(RuleSetRow)
    return (
        select(candidate.id)
        .where(
            candidate.status.in_([RuleSetStatus.PUBLISHED, RuleSetStatus.SUPERSEDED]),
            candidate.valid_from <= day,
            or_(candidate.valid_to.is_(None), candidate.valid_to > day),
        )
        .order_by(candidate.version.desc())
        .limit(1)
        .correlate_except(candidate)
        .scalar_subquery()
    )


def published(session: Session, row_id: int, version: int, published_at) -> LoadedRuleSet:
    """The published rule set ``row_id``, parsed and compiled once per process."""
    key = (row_id, version, published_at)
    found = _published.get(key)
    if found is None:
        found = load_row(session.get(RuleSetRow, row_id))
        with _lock:
            if len(_published) > 64:
                _published.clear()
            _published[key] = found
    return found


def in_force(session: Session, day: date, row: tuple | None) -> LoadedRuleSet:
    """The rule set in force on ``day`` given ``row`` = (id, version, published_at) of
    the published one found for that day (None: the shipped default applies).
    Raises ``NoRuleSetInForce``."""
    if row is not None and row[0] is not None:
        return published(session, *row)
    loaded = default_rule_set()
    if not loaded.rule_set.valid_on(day):
        raise NoRuleSetInForce(f"no rule set is in force on {day.isoformat()}")
    return loaded


def rule_set_in_force(session: Session, day: date) -> LoadedRuleSet:
    """The rule set that routes requests filed on ``day``: the newest published
    version valid that day, else the shipped default. Raises ``NoRuleSetInForce``."""
    row = session.execute(_in_force_statement(), {"day": day}).first()
    return in_force(session, day, tuple(row) if row else None)


@functools.cache
def _in_force_statement():
    """Built once per process: building it (the alias above all) costs about 800 µs of
    CPU, far more than running it, and every filing runs it."""
    return select(RuleSetRow.id, RuleSetRow.version, RuleSetRow.published_at).where(
        RuleSetRow.id == in_force_on(bindparam("day", type_=Date)))


def facts_for(request: Request, citizen: User | None = None) -> RequestFacts:
    """The routing facts of a filed request: service type, residence municipality,
    filing date, and the answers (plus the citizen's age on the filing date)."""
    filed_on = request.filed_on or danish_today(request.filed_at)
    attributes = {k: v for k, v in (request.answers or {}).items() if _plain(v)}
    citizen = citizen or request.citizen
    if citizen is not None and citizen.birth_date is not None and "age" not in attributes:
        born = citizen.birth_date
        attributes["age"] = (
            filed_on.year - born.year - ((filed_on.month, filed_on.day) < (born.month, born.day))
        )
    return RequestFacts(
        service_type=request.service_type_slug,
        municipality_code=str(request.municipality_code or ""),
        filed_on=filed_on,
        attributes=attributes,
    )


def _plain(value) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def decide(
    session: Session, request: Request, *, actor: User | None = None
) -> RoutingRecord | None:
    """Route ``request`` and add its ``RoutingRecord`` and an audit row to the session
    (the caller commits, with whatever else the use case changes).

    Idempotent: a request already routed keeps its record. When no rule gives a
    target, the request is marked ``unroutable`` (a coordinator must act), a
    ``routing.no_route`` audit row says why, and None is returned.
    """
    existing = session.scalars(
        select(RoutingRecord).where(RoutingRecord.request_id == request.id)
    ).first()
    if existing is not None:
        return existing
    facts = facts_for(request)
    return record_decision(session, request, facts, lambda: rule_set_in_force(session, facts.filed_on), actor=actor)


def record_decision(
    session: Session, request: Request, facts: RequestFacts, rule_set: Callable[[], LoadedRuleSet],
    *, actor: User | None = None,
) -> RoutingRecord | None:
    """Route a request not routed before by the rule set ``rule_set()`` gives, and add
    its ``RoutingRecord`` and audit row to the session (see ``decide``)."""
    try:
        loaded = rule_set()
        decision = loaded.compiled.route(facts)
    except (NoRoute, UnknownMunicipality) as exc:
        request.status = RequestStatus.UNROUTABLE
        audit.record(
            session,
            actor=actor,
            action="routing.no_route",
            request_id=request.id,
            subject_id=request.citizen_id,
            details={"error": f"{type(exc).__name__}: {exc}", "service_type": facts.service_type},
        )
        return None
    record = RoutingRecord(
        request_id=request.id,
        rule_set_version=loaded.version,
        decision=decision.to_dict(),
    )
    session.add(record)
    audit.record(
        session,
        actor=actor,
        action="routing.decided",
        request_id=request.id,
        subject_id=request.citizen_id,
        details={
            "rule_set_version": loaded.version,
            "rule_set_origin": loaded.origin,
            "assignments": [[a.authority_id, a.role] for a in decision.assignments],
        },
    )
    return record


def route_request(
    session: Session, request_id: int, *, actor: User | None = None
) -> RoutingRecord | None:
    """Route the filed request ``request_id`` and commit (for the worker's job).

    Returns the routing record, or None when the request is unroutable. Raises
    ``LookupError`` for an unknown request id.
    """
    request = session.get(Request, request_id)
    if request is None:
        raise LookupError(f"no request {request_id}")
    record = decide(session, request, actor=actor)
    session.commit()
    return record


def stored_decision(record: RoutingRecord) -> RoutingDecision:
    """The ``RoutingDecision`` kept in a routing record."""
    return RoutingDecision.from_dict(record.decision)
