"""Coordinated assessments as data: who leads, by rules in the routing condition language.

``lead.yaml`` holds an ordered list of rules; the first whose ``when`` holds names the
lead: ``residence-municipality`` (the involved municipality of residence, else any
involved municipality), ``region`` (an involved region), ``first`` (the first involved
authority, municipalities before regions before the state) or an authority id.
Pure Python: no portal, Flask or SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from routing import conditions as cond
from routing import safe_yaml
from routing.decisions import Text
from routing.rules import RuleSetError, _line_of, _Loader, _parse_fields

LEVELS = ("residence-municipality", "region", "first")
KIND_ORDER = {"municipality": 0, "region": 1, "state": 2}


@dataclass(frozen=True)
class Involved:
    """An authority involved in the citizen's cases: id, kind and official code."""

    id: str
    kind: str  # municipality | region | state
    code: str | None = None


@dataclass(frozen=True)
class LeadRule:
    id: str
    condition: Any  # resolved tree, or None for "always"
    lead: str
    because: Text


@dataclass(frozen=True)
class LeadChoice:
    authority_id: str
    rule_id: str
    because: Text


@dataclass(frozen=True)
class LeadRules:
    version: int
    rules: tuple[LeadRule, ...]

    def choose(self, involved: Sequence[Involved], *, municipality_code: str | None,
               reason: str) -> LeadChoice | None:
        """The lead authority among ``involved``, by the first rule that holds and can
        name one; None when nothing is involved."""
        ordered = sorted(involved, key=lambda a: (KIND_ORDER.get(a.kind, 9), a.id))
        if not ordered:
            return None
        facts = {
            "has_municipality": any(a.kind == "municipality" for a in ordered),
            "has_region": any(a.kind == "region" for a in ordered),
            "has_state": any(a.kind == "state" for a in ordered),
            "authority_count": len(ordered),
            "reason": reason,
        }
        for rule in self.rules:
            if rule.condition is not None and not cond.compile_condition(rule.condition, {})(facts):
                continue
            found = _resolve(rule.lead, ordered, municipality_code)
            if found is not None:
                return LeadChoice(found, rule.id, rule.because)
        return LeadChoice(ordered[0].id, "fallback", Text("", ""))


def _resolve(lead: str, ordered: Sequence[Involved], municipality_code: str | None) -> str | None:
    if lead == "residence-municipality":
        municipalities = [a for a in ordered if a.kind == "municipality"]
        home = [a for a in municipalities if a.code and a.code == municipality_code]
        chosen = home or municipalities
        return chosen[0].id if chosen else None
    if lead == "region":
        return next((a.id for a in ordered if a.kind == "region"), None)
    if lead == "first":
        return ordered[0].id
    return lead if any(a.id == lead for a in ordered) else None


def default_lead_rules_path() -> Path:
    return Path(__file__).parent / "lead.yaml"


def parse_lead_rules(text: str, source: str = "<lead rules>") -> LeadRules:
    """Parse the lead rules; raises ``RuleSetError`` with file and line of each problem."""
    problems: list = []

    def fail(line, rule_id, message):
        problems.append((line, rule_id, message))

    try:
        doc = safe_yaml.load(text, _Loader)
    except yaml.YAMLError as exc:
        raise RuleSetError(source, [(None, None, f"not valid YAML: {exc}")])
    if not isinstance(doc, dict):
        raise RuleSetError(source, [(1, None, "lead rules must be a mapping with 'rules'")])
    fields = _parse_fields(doc.get("fields") or {}, doc, fail)
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        fail(_line_of(doc, "version"), None, "'version' must be an integer")
    rules = []
    for raw in doc.get("rules") or []:
        rule_id = raw.get("id") if isinstance(raw, dict) else None
        if not rule_id:
            fail(_line_of(raw), None, "each rule needs an 'id'")
            continue
        condition = None
        if raw.get("when") is not None:
            try:
                condition = cond.resolve_names(cond.parse_condition(raw["when"]), fields, {})
            except cond.ConditionError as exc:
                fail(_line_of(raw, "when"), rule_id, str(exc))
                continue
        lead = raw.get("lead")
        if not isinstance(lead, str) or not lead:
            fail(_line_of(raw, "lead"), rule_id, f"'lead' must be one of {', '.join(LEVELS)} or an authority id")
            continue
        because = raw.get("because") or {}
        rules.append(LeadRule(rule_id, condition, lead, Text(str(because.get("da", "")), str(because.get("en", "")))))
    if not rules:
        fail(_line_of(doc, "rules"), None, "'rules' must be a non-empty list")
    if problems:
        raise RuleSetError(source, problems)
    return LeadRules(int(version), tuple(rules))


def load_lead_rules(path: str | Path | None = None) -> LeadRules:
    path = Path(path) if path else default_lead_rules_path()
    return parse_lead_rules(path.read_text(encoding="utf-8"), str(path))
