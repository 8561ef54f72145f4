"""Decision rules as data: may a request be decided at once, and why.

A service type may declare decision rules in ``routing/decision_rules/<service>.yaml``.
They use the same condition language as the routing rules (``routing.conditions``:
declared, typed fields; named conditions; no ``eval``). Each rule is a condition the
request must meet, with the reason in plain Danish and English both ways::

    service: housing-benefit
    version: 1                      # an integer, named on every decision
    valid_from: 2026-01-01
    valid_to: null
    fields: {age: int, rent: number}
    conditions: {adult: "age >= 18"}
    rules:
      - id: adult
        when: "adult"
        otherwise: refer            # refer (a caseworker decides) or refuse
        met: {da: "...", en: "..."}
        not_met: {da: "...", en: "..."}
    granted: {da: "...", en: "..."}  # what the citizen reads when every rule is met
    refused: {da: "...", en: "..."}  # when a rule with ``otherwise: refuse`` is not met
    appeal_to: state-ankestyrelsen

Each rule comes out ``met``, ``not_met`` or ``unknown`` (a field it reads is missing).
A rule is *decisive* when it is met, or not met with ``otherwise: refuse``. When every
rule is decisive the request is decided at once: granted when all are met, refused
otherwise. When any rule is undecided (unknown, or not met with ``otherwise: refer``)
a caseworker decides, and sees each rule's outcome.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from routing import conditions as cond
from routing import safe_yaml
from routing.rules import (
    RuleSetError,
    _date_field,
    _line_of,
    _Loader,
    _parse_fields,
    _parse_named_conditions,
)
from routing.service_types import load_default_service_types

MET, NOT_MET, UNKNOWN = "met", "not_met", "unknown"
GRANTED, REFUSED, UNDECIDED = "granted", "refused", "undecided"
REFER, REFUSE = "refer", "refuse"
DEFAULT_APPEAL_TO = "state-ankestyrelsen"

_TOP_KEYS = {"service", "version", "valid_from", "valid_to", "description", "fields", "conditions",
             "rules", "granted", "refused", "appeal_to"}
_RULE_KEYS = {"id", "when", "otherwise", "met", "not_met", "description"}


def default_decision_rules_dir() -> Path:
    """The decision rules shipped with Indgang: ``routing/decision_rules/``."""
    return Path(__file__).parent / "decision_rules"


@dataclass(frozen=True)
class Text:
    """A text in Danish and English."""

    da: str
    en: str

    def __call__(self, locale: str) -> str:
        return self.en if locale == "en" else self.da


@dataclass(frozen=True)
class DecisionRule:
    id: str
    when: str
    condition: Any  # a resolved tree of routing.conditions
    otherwise: str  # REFER or REFUSE
    met: Text
    not_met: Text
    line: int | None = None


@dataclass(frozen=True)
class RuleResult:
    """How one rule came out for one request."""

    rule_id: str
    status: str  # MET, NOT_MET or UNKNOWN
    decisive: bool
    reason: Text  # the plain-language reason for this status
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"rule_id": self.rule_id, "status": self.status, "decisive": self.decisive,
                "reason": {"da": self.reason.da, "en": self.reason.en}, "missing": list(self.missing)}

    @classmethod
    def from_dict(cls, data: Mapping) -> RuleResult:
        return cls(data["rule_id"], data["status"], bool(data["decisive"]),
                   Text(data["reason"]["da"], data["reason"]["en"]), tuple(data.get("missing") or ()))


@dataclass(frozen=True)
class Evaluation:
    """The outcome of a service's decision rules for one request."""

    service_type: str
    rule_set_version: int
    outcome: str  # GRANTED, REFUSED or UNDECIDED
    results: tuple[RuleResult, ...]
    summary: Text | None  # the decision text for a decisive outcome
    appeal_to: str

    @property
    def instant(self) -> bool:
        """True when every rule is decisive, so the request is decided at once."""
        return self.outcome != UNDECIDED

    def to_dict(self) -> dict:
        return {
            "service_type": self.service_type, "rule_set_version": self.rule_set_version,
            "outcome": self.outcome, "results": [r.to_dict() for r in self.results],
            "summary": {"da": self.summary.da, "en": self.summary.en} if self.summary else None,
            "appeal_to": self.appeal_to,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Evaluation:
        summary = data.get("summary")
        return cls(data["service_type"], int(data["rule_set_version"]), data["outcome"],
                   tuple(RuleResult.from_dict(r) for r in data.get("results") or ()),
                   Text(summary["da"], summary["en"]) if summary else None,
                   data.get("appeal_to") or DEFAULT_APPEAL_TO)


@dataclass(frozen=True)
class DecisionRuleSet:
    """One version of a service type's decision rules, valid on [valid_from, valid_to)."""

    service_type: str
    version: int
    valid_from: date
    valid_to: date | None
    rules: tuple[DecisionRule, ...]
    granted: Text
    refused: Text
    appeal_to: str = DEFAULT_APPEAL_TO
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    conditions: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = "<decision rules>"

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def evaluate(self, attributes: Mapping[str, Any]) -> Evaluation:
        """Run every rule on ``attributes`` (answers and registry facts).

        A rule that reads a field missing from ``attributes`` (or None) is ``unknown``:
        the engine never guesses, so that request goes to a caseworker.
        """
        results = []
        for rule in self.rules:
            missing = tuple(sorted(f for f in fields_read(rule.condition, self.conditions)
                                   if attributes.get(f) is None))
            if missing:
                results.append(RuleResult(rule.id, UNKNOWN, False, rule.not_met, missing))
                continue
            check = cond.compile_condition(rule.condition, self.conditions)
            if check(attributes):
                results.append(RuleResult(rule.id, MET, True, rule.met))
            else:
                results.append(RuleResult(rule.id, NOT_MET, rule.otherwise == REFUSE, rule.not_met))
        if not all(r.decisive for r in results):
            outcome, summary = UNDECIDED, None
        elif all(r.status == MET for r in results):
            outcome, summary = GRANTED, self.granted
        else:
            outcome, summary = REFUSED, self.refused
        return Evaluation(self.service_type, self.version, outcome, tuple(results), summary, self.appeal_to)


def fields_read(node, named: Mapping[str, Any]) -> set[str]:
    """The fields a resolved condition reads, through its named conditions."""
    if isinstance(node, cond.Field):
        return {node.name}
    if isinstance(node, cond.Ref):
        return fields_read(named[node.name], named)
    if isinstance(node, cond.Compare):
        return fields_read(node.left, named) | fields_read(node.right, named)
    if isinstance(node, cond.InList):
        return fields_read(node.operand, named)
    if isinstance(node, cond.Not):
        return fields_read(node.item, named)
    if isinstance(node, cond.And | cond.Or):
        return set().union(*(fields_read(i, named) for i in node.items))
    return set()


# --- parsing ------------------------------------------------------------------------


def parse_decision_rules(text: str, source: str = "<decision rules>",
                         authority_ids: frozenset[str] | None = None,
                         service_ids: Collection[str] | None = None) -> DecisionRuleSet:
    """Parse one decision rule file; raises ``routing.rules.RuleSetError`` listing every
    problem (file, line, rule): YAML syntax, unknown keys, unknown service type or
    fields, bad conditions, missing texts, a bad ``otherwise``, duplicate rule ids.
    Service ids are checked against ``service_ids`` (the shipped catalogue's if None)."""
    if service_ids is None:
        service_ids = load_default_service_types()
    problems: list[tuple[int | None, str | None, str]] = []

    def fail(line, rule_id, message):
        problems.append((line, rule_id, message))

    try:
        doc = safe_yaml.load(text, _Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RuleSetError(source, [(mark.line + 1 if mark else None, None,
                                     f"not valid YAML: {getattr(exc, 'problem', None) or exc}")])
    if not isinstance(doc, dict):
        raise RuleSetError(source, [(1, None, "decision rules must be a mapping with 'service' and 'rules'")])
    for key in doc:
        if key not in _TOP_KEYS:
            fail(_line_of(doc, key), None, f"unknown field {key!r}")
    service = doc.get("service")
    if service not in service_ids:
        fail(_line_of(doc, "service"), None, f"unknown service type {service!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        fail(_line_of(doc, "version"), None, "'version' must be a positive integer")
        version = 0
    valid_from = _date_field(doc, "valid_from", fail, required=True)
    valid_to = _date_field(doc, "valid_to", fail, required=False)
    if valid_from and valid_to and valid_to <= valid_from:
        fail(_line_of(doc, "valid_to"), None, "'valid_to' must be after 'valid_from'")
    fields = _parse_fields(doc.get("fields") or {}, doc, fail)
    named = _parse_named_conditions(doc.get("conditions") or {}, doc, fields, fail)
    granted = _text(doc, "granted", None, fail)
    refused = _text(doc, "refused", None, fail)
    appeal_to = doc.get("appeal_to") or DEFAULT_APPEAL_TO
    if authority_ids is not None and appeal_to not in authority_ids:
        fail(_line_of(doc, "appeal_to"), None, f"unknown authority {appeal_to!r}")
    raw_rules = doc.get("rules")
    rules: list[DecisionRule] = []
    if not isinstance(raw_rules, list) or not raw_rules:
        fail(_line_of(doc, "rules"), None, "'rules' must be a non-empty list")
        raw_rules = []
    seen: set[str] = set()
    for raw in raw_rules:
        rule = _parse_rule(raw, fields, named, seen, fail)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise RuleSetError(source, problems)
    return DecisionRuleSet(service, version, valid_from, valid_to, tuple(rules), granted, refused,
                           appeal_to, MappingProxyType(fields), MappingProxyType(named), source)


def _parse_rule(raw, fields, named, seen, fail) -> DecisionRule | None:
    line = _line_of(raw)
    if not isinstance(raw, dict):
        fail(line, None, "each rule must be a mapping")
        return None
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        fail(line, None, "each rule needs an 'id'")
        return None
    if rule_id in seen:
        fail(line, rule_id, "duplicate rule id")
    seen.add(rule_id)
    for key in raw:
        if key not in _RULE_KEYS:
            fail(_line_of(raw, key), rule_id, f"unknown field {key!r}")
    otherwise = raw.get("otherwise", REFER)
    if otherwise not in (REFER, REFUSE):
        fail(_line_of(raw, "otherwise"), rule_id, f"'otherwise' must be {REFER!r} or {REFUSE!r}")
    condition = None
    when = raw.get("when")
    try:
        condition = cond.resolve_names(cond.parse_condition(when), fields, named)
    except cond.ConditionError as exc:
        fail(_line_of(raw, "when"), rule_id, str(exc))
    met = _text(raw, "met", rule_id, fail)
    not_met = _text(raw, "not_met", rule_id, fail)
    if condition is None or met is None or not_met is None:
        return None
    return DecisionRule(rule_id, when, condition, otherwise, met, not_met, line)


def _text(doc, key, rule_id, fail) -> Text | None:
    value = doc.get(key)
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value[k].strip() for k in ("da", "en")):
        fail(_line_of(doc, key), rule_id, f"'{key}' needs a text in Danish and English ({{da: ..., en: ...}})")
        return None
    return Text(value["da"].strip(), value["en"].strip())


# --- the shipped library --------------------------------------------------------------


@dataclass(frozen=True)
class DecisionLibrary:
    """Every service's decision rule versions."""

    rule_sets: tuple[DecisionRuleSet, ...]

    def for_service(self, service_type: str, day: date) -> DecisionRuleSet | None:
        """The newest version for ``service_type`` valid on ``day``, or None."""
        found = [r for r in self.rule_sets if r.service_type == service_type and r.valid_on(day)]
        return max(found, key=lambda r: r.version) if found else None

    @property
    def services(self) -> frozenset[str]:
        return frozenset(r.service_type for r in self.rule_sets)


def load_decision_library(directory: str | Path | None = None,
                          authority_ids: frozenset[str] | None = None,
                          service_ids: Collection[str] | None = None) -> DecisionLibrary:
    """Every ``*.yaml`` file in ``directory`` (the shipped rules by default).

    Raises ``RuleSetError`` for a bad file, or for two files with the same service
    and version.
    """
    directory = Path(directory) if directory else default_decision_rules_dir()
    sets = []
    seen: dict[tuple[str, int], str] = {}
    for path in sorted(directory.glob("*.yaml")):
        rule_set = parse_decision_rules(path.read_text(encoding="utf-8"), str(path), authority_ids, service_ids)
        key = (rule_set.service_type, rule_set.version)
        if key in seen:
            raise RuleSetError(str(path), [(None, None, f"version {key[1]} of {key[0]!r} is also in {seen[key]}")])
        seen[key] = str(path)
        sets.append(rule_set)
    return DecisionLibrary(tuple(sets))
