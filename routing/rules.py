"""Rule sets as data: parse a YAML rule set into frozen dataclasses, refusing bad files
with a message that names the file, the line and the rule.

A rule set file looks like this (``routing/rules/default.yaml`` is the full example)::

    version: 1                     # an integer in the portal; any string here
    valid_from: 2026-01-01
    valid_to: null                 # open-ended; the first day it no longer applies
    fields:                        # request attributes conditions may use, with types
      age: int
    conditions:                    # named conditions, usable by name in "when"
      child: "age < 18"
    rules:
      - id: home-care
        service: home-care
        priority: 10               # higher wins; equal priorities that disagree conflict
        when: "not child"          # optional condition over the fields
        municipalities: ["101"]    # optional scope by municipality code ...
        regions: [region-1084]     # ... or by region (on the filing date)
        extends: another-rule      # optional: start from another rule's keys
        because: {da: "...", en: "..."}   # optional reason shown to citizens
        assign:
          - to: residence-municipality   # or residence-region, or an authority id
            role: decides                # or contributes
            target_days: 10
            limit_days: 20
            day_kind: working            # or calendar
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from routing import conditions as cond
from routing import safe_yaml
from routing.registry import Registry, load_default_registry
from routing.service_types import ServiceType, load_default_service_types

RESIDENCE_MUNICIPALITY = "residence-municipality"
RESIDENCE_REGION = "residence-region"
LEVELS = (RESIDENCE_MUNICIPALITY, RESIDENCE_REGION)
ROLES = ("decides", "contributes")
DAY_KINDS = ("working", "calendar")

_TOP_KEYS = {"version", "valid_from", "valid_to", "description", "fields", "conditions", "rules"}
_RULE_KEYS = {
    "id",
    "service",
    "priority",
    "when",
    "municipalities",
    "regions",
    "extends",
    "because",
    "assign",
    "description",
}
_ASSIGN_KEYS = {"to", "role", "target_days", "limit_days", "day_kind", "task"}


class RuleSetError(ValueError):
    """A rule set that cannot be used. ``problems`` lists (line, rule id, message);
    the message names the file (``source``), line and rule of each problem."""

    def __init__(self, source: str, problems: list[tuple[int | None, str | None, str]]):
        self.source = source
        self.problems = problems
        lines = []
        for line, rule_id, message in problems:
            where = f"{source}:{line}" if line else source
            lines.append(
                f"{where}: rule {rule_id!r}: {message}" if rule_id else f"{where}: {message}"
            )
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class AssignmentSpec:
    """Who a rule assigns the request to: a level or an authority id, and the deadlines."""

    to: str
    role: str
    target_days: int
    limit_days: int
    day_kind: str
    task_da: str | None = None
    task_en: str | None = None


@dataclass(frozen=True)
class Rule:
    """One routing rule, with the line it starts on in its file."""

    id: str
    service_type: str
    priority: int
    assignments: tuple[AssignmentSpec, ...]
    when: str | None = None
    condition: Any = None  # a resolved tree from routing.conditions, or None
    municipalities: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    because_da: str | None = None
    because_en: str | None = None
    line: int | None = None

    @property
    def unconditional(self) -> bool:
        return self.condition is None


@dataclass(frozen=True)
class RuleSet:
    """A versioned set of rules valid on ``[valid_from, valid_to)``."""

    version: str
    valid_from: date
    valid_to: date | None
    rules: tuple[Rule, ...]
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    conditions: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = "<rules>"
    description: str = ""
    # The catalogue's service types the rule set was parsed against (id -> words for
    # the explanations): part of the snapshot routing works on, like the registry.
    services: Mapping[str, ServiceType] = field(default_factory=lambda: MappingProxyType({}))

    def valid_on(self, day: date) -> bool:
        """True when the rule set is in force on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


# --- YAML with line numbers ------------------------------------------------------


class _LineDict(dict):
    line: int = 0
    key_lines: dict


class _LineList(list):
    line: int = 0
    item_lines: list


class _Loader(safe_yaml.SafeLoader):
    """The safe loader (no anchors or aliases, see ``routing.safe_yaml``) whose mappings
    and lists remember their line numbers and which
    refuses duplicate keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    out = _LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.MarkedYAMLError(
                "while reading a mapping",
                node.start_mark,
                f"duplicate key {key!r}",
                key_node.start_mark,
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> _LineList:
    out = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def _line_of(mapping: Any, key: str | None = None) -> int | None:
    if key is not None and isinstance(mapping, _LineDict) and key in mapping.key_lines:
        return mapping.key_lines[key]
    return getattr(mapping, "line", None)


# --- Parsing ------------------------------------------------------------------------


def load_rule_set(
    path: str | Path, registry: Registry | None = None, services: Mapping[str, ServiceType] | None = None
) -> RuleSet:
    """The rule set in the YAML file at ``path``; raises ``RuleSetError``."""
    path = Path(path)
    return parse_rule_set(path.read_text(encoding="utf-8"), str(path), registry, services)


def parse_rule_set(
    text: str,
    source: str = "<rules>",
    registry: Registry | None = None,
    services: Mapping[str, ServiceType] | None = None,
) -> RuleSet:
    """Parse the YAML rule set ``text`` read from ``source`` (a file name for messages).

    Authority ids are checked against ``registry`` (the default registry if None),
    service ids against the catalogue's ``services`` (the shipped catalogue if None).
    Raises ``RuleSetError`` listing every problem found: YAML syntax, unknown keys and
    fields, wrong types, unknown service types, authorities or roles, target above
    limit, duplicate rule ids, and cycles of ``extends`` or named-condition references.
    """
    registry = registry or load_default_registry()
    services = MappingProxyType(dict(services if services is not None else load_default_service_types()))
    problems: list[tuple[int | None, str | None, str]] = []

    def fail(line, rule_id, message):
        problems.append((line, rule_id, message))

    try:
        doc = safe_yaml.load(text, _Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleSetError(
            source, [(mark.line + 1 if mark else None, None, f"not valid YAML: {problem}")]
        )
    if not isinstance(doc, dict):
        raise RuleSetError(
            source, [(1, None, "a rule set must be a mapping with 'version' and 'rules'")]
        )

    for key in doc:
        if key not in _TOP_KEYS:
            fail(_line_of(doc, key), None, f"unknown field {key!r}")

    version = doc.get("version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version.strip():
        fail(_line_of(doc, "version"), None, "'version' must be a non-empty string")
        version = ""
    valid_from = _date_field(doc, "valid_from", fail, required=True)
    valid_to = _date_field(doc, "valid_to", fail, required=False)
    if valid_from and valid_to and valid_to <= valid_from:
        fail(_line_of(doc, "valid_to"), None, "'valid_to' must be after 'valid_from'")

    fields = _parse_fields(doc.get("fields") or {}, doc, fail)
    named = _parse_named_conditions(doc.get("conditions") or {}, doc, fields, fail)

    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        fail(_line_of(doc, "rules"), None, "'rules' must be a non-empty list")
        raw_rules = []
    rules = _parse_rules(raw_rules, fields, named, registry, services, fail)

    if problems:
        raise RuleSetError(source, problems)
    return RuleSet(
        version=version,
        valid_from=valid_from,
        valid_to=valid_to,
        rules=tuple(rules),
        fields=MappingProxyType(fields),
        conditions=MappingProxyType(named),
        source=source,
        description=str(doc.get("description") or ""),
        services=services,
    )


def _date_field(doc, key, fail, required):
    value = doc.get(key)
    if value is None:
        if required:
            fail(_line_of(doc, key), None, f"'{key}' is required (a date, YYYY-MM-DD)")
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        fail(_line_of(doc, key), None, f"wrong type: '{key}' must be a date (YYYY-MM-DD)")
        return None


def _parse_fields(raw, doc, fail) -> dict[str, str]:
    if not isinstance(raw, dict):
        fail(_line_of(doc, "fields"), None, "wrong type: 'fields' must be a mapping name: type")
        return {}
    fields = {}
    for name, spec in raw.items():
        type_name = spec.get("type") if isinstance(spec, dict) else spec
        if type_name not in cond.FIELD_TYPES:
            fail(
                _line_of(raw, name),
                None,
                f"field {name!r}: unknown type {type_name!r} "
                f"(use one of {', '.join(cond.FIELD_TYPES)})",
            )
            continue
        fields[str(name)] = type_name
    return fields


def _parse_named_conditions(raw, doc, fields, fail) -> dict[str, Any]:
    if not isinstance(raw, dict):
        fail(_line_of(doc, "conditions"), None, "wrong type: 'conditions' must be a mapping")
        return {}
    names = set(raw)
    parsed: dict[str, Any] = {}
    for name, text in raw.items():
        if name in fields:
            fail(_line_of(raw, name), None, f"condition {name!r} has the name of a field")
            continue
        try:
            parsed[name] = cond.resolve_names(cond.parse_condition(text), fields, names)
        except cond.ConditionError as exc:
            fail(_line_of(raw, name), None, f"condition {name!r}: {exc}")
    # A cycle of references would never finish evaluating: refuse it.
    for cycle in _cycles({n: cond.references(t) for n, t in parsed.items()}):
        fail(_line_of(raw, cycle[0]), None, f"cycle of condition references: {' -> '.join(cycle)}")
    return parsed


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Each cycle in ``graph`` once, as the path that closes it."""
    found, seen_cycles = [], set()
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    found.append(cycle)
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in graph:
        if state.get(node) is None:
            visit(node, [node])
    return found


def _parse_rules(raw_rules, fields, named, registry: Registry, services, fail) -> list[Rule]:
    by_id: dict[str, dict] = {}
    order: list[str] = []
    for index, raw in enumerate(raw_rules):
        line = raw_rules.item_lines[index] if isinstance(raw_rules, _LineList) else None
        if not isinstance(raw, dict):
            fail(line, None, "wrong type: each rule must be a mapping")
            continue
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            fail(_line_of(raw, "id") or line, None, "each rule needs an 'id' (a string)")
            continue
        if rule_id in by_id:
            fail(_line_of(raw, "id"), rule_id, "duplicate rule id")
            continue
        for key in raw:
            if key not in _RULE_KEYS:
                fail(_line_of(raw, key), rule_id, f"unknown field {key!r}")
        by_id[rule_id] = raw
        order.append(rule_id)

    # extends: a rule starts from another rule's keys. Refuse unknown targets and cycles.
    graph = {}
    for rule_id, raw in by_id.items():
        parent = raw.get("extends")
        if parent is None:
            continue
        if not isinstance(parent, str) or parent not in by_id:
            fail(_line_of(raw, "extends"), rule_id, f"extends unknown rule {parent!r}")
            continue
        graph[rule_id] = {parent}
    cyclic = set()
    for cycle in _cycles(graph):
        cyclic.update(cycle)
        first = cycle[0]
        fail(_line_of(by_id[first], "extends"), first, f"cycle of references: {' -> '.join(cycle)}")

    rules = []
    for rule_id in order:
        if rule_id in cyclic:
            continue
        merged, origin = _merged(rule_id, by_id, graph)
        rule = _parse_rule(rule_id, merged, origin, fields, named, registry, services, fail)
        if rule is not None:
            rules.append(rule)
    return rules


def _merged(rule_id, by_id, graph) -> tuple[dict, dict]:
    """The rule's keys after ``extends``, and for each key the mapping it came from (for
    line numbers)."""
    chain = [rule_id]
    while chain[-1] in graph:
        chain.append(next(iter(graph[chain[-1]])))
    merged, origin = {}, {}
    for ancestor in reversed(chain):
        for key, value in by_id[ancestor].items():
            if key in ("id", "extends") and ancestor != rule_id:
                continue
            merged[key] = value
            origin[key] = by_id[ancestor]
    return merged, origin


def _parse_rule(rule_id, raw, origin, fields, named, registry, services, fail) -> Rule | None:
    def line(key):
        return _line_of(origin.get(key, raw), key)

    ok = True

    def problem(key, message):
        nonlocal ok
        ok = False
        fail(line(key), rule_id, message)

    service = raw.get("service")
    if not isinstance(service, str):
        problem("service", "wrong type or missing: 'service' must be a service type id")
    elif service not in services:
        problem("service", f"unknown service type {service!r}")

    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        problem("priority", f"wrong type: 'priority' must be an integer, not {priority!r}")
        priority = 0

    when, condition = raw.get("when"), None
    if when is not None:
        if not isinstance(when, str):
            problem("when", f"wrong type: 'when' must be a condition string, not {when!r}")
        else:
            try:
                condition = cond.resolve_names(cond.parse_condition(when), fields, named)
            except cond.ConditionError as exc:
                problem("when", str(exc))

    municipalities = raw.get("municipalities")
    if municipalities is not None:
        if not isinstance(municipalities, list) or not municipalities:
            problem("municipalities", "wrong type: 'municipalities' must be a list of codes")
            municipalities = None
        else:
            codes = set()
            for code in municipalities:
                try:
                    codes.add(str(int(str(code))))
                except ValueError:
                    problem("municipalities", f"wrong type: {code!r} is not a municipality code")
                    continue
                if registry.get(f"municipality-{int(str(code))}") is None:
                    problem("municipalities", f"unknown municipality code {code!r}")
            municipalities = frozenset(codes)

    regions = raw.get("regions")
    if regions is not None:
        if not isinstance(regions, list) or not regions:
            problem("regions", "wrong type: 'regions' must be a list of region ids")
            regions = None
        else:
            for region in regions:
                found = registry.get(region) if isinstance(region, str) else None
                if found is None or found.kind.value != "region":
                    problem("regions", f"unknown authority {region!r} (expected a region id)")
            regions = frozenset(str(r) for r in regions)

    because = raw.get("because")
    because_da = because_en = None
    if because is not None:
        if not isinstance(because, dict) or not all(
            isinstance(because.get(k), str) for k in ("da", "en")
        ):
            problem("because", "wrong type: 'because' must be a mapping with 'da' and 'en' texts")
        else:
            because_da, because_en = because["da"], because["en"]

    assignments = []
    raw_assign = raw.get("assign")
    if not isinstance(raw_assign, list) or not raw_assign:
        problem("assign", "'assign' must be a non-empty list of assignments")
        raw_assign = []
    for index, item in enumerate(raw_assign):
        item_line = (
            raw_assign.item_lines[index] if isinstance(raw_assign, _LineList) else line("assign")
        )
        spec = _parse_assignment(item, item_line, rule_id, registry, fail)
        if spec is None:
            ok = False
        else:
            assignments.append(spec)
    targets = [(a.to, a.role) for a in assignments]
    if len(set(targets)) != len(targets):
        problem("assign", "the same target and role is assigned twice")

    if not ok:
        return None
    return Rule(
        id=rule_id,
        service_type=service,
        priority=priority,
        assignments=tuple(assignments),
        when=when,
        condition=condition,
        municipalities=municipalities,
        regions=regions,
        because_da=because_da,
        because_en=because_en,
        line=_line_of(origin.get("id", raw)),
    )


def _parse_assignment(item, item_line, rule_id, registry: Registry, fail) -> AssignmentSpec | None:
    if not isinstance(item, dict):
        fail(item_line, rule_id, "wrong type: each assignment must be a mapping")
        return None
    ok = True

    def problem(key, message):
        nonlocal ok
        ok = False
        fail(_line_of(item, key) or item_line, rule_id, message)

    for key in item:
        if key not in _ASSIGN_KEYS:
            problem(key, f"unknown field {key!r} in assignment")
    to = item.get("to")
    if not isinstance(to, str):
        problem("to", "wrong type or missing: 'to' must be a level or an authority id")
    elif to not in LEVELS and registry.get(to) is None:
        problem("to", f"unknown authority {to!r}")
    role = item.get("role", "decides")
    if role not in ROLES:
        problem("role", f"unknown role {role!r} (use decides or contributes)")
    day_kind = item.get("day_kind", "working")
    if day_kind not in DAY_KINDS:
        problem("day_kind", f"unknown day_kind {day_kind!r} (use working or calendar)")
    days = {}
    for key in ("target_days", "limit_days"):
        value = item.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problem(key, f"wrong type: '{key}' must be a positive integer, not {value!r}")
        else:
            days[key] = value
    if len(days) == 2 and days["target_days"] > days["limit_days"]:
        problem(
            "target_days",
            f"target_days ({days['target_days']}) is above limit_days ({days['limit_days']})",
        )
    task = item.get("task")
    task_da = task_en = None
    if task is not None:
        if not isinstance(task, dict) or not all(
            isinstance(task.get(k), str) for k in ("da", "en")
        ):
            problem("task", "wrong type: 'task' must be a mapping with 'da' and 'en' texts")
        else:
            task_da, task_en = task["da"], task["en"]
    if not ok:
        return None
    return AssignmentSpec(
        to=to,
        role=role,
        target_days=days["target_days"],
        limit_days=days["limit_days"],
        day_kind=day_kind,
        task_da=task_da,
        task_en=task_en,
    )
