"""Validate a rule set against the registry on one day: gaps, conflicts, shadowed rules
and targets that are not valid on that day. Publishing refuses gaps and conflicts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from routing.conditions import is_constant_false
from routing.engine import Unresolved, candidates_for, resolve_target
from routing.registry import AuthorityKind, Registry
from routing.rules import Rule, RuleSet


@dataclass(frozen=True)
class Gap:
    """A (service type, municipality) pair where a request can end with no target."""

    service_type: str
    municipality_code: str
    municipality_name: str
    reason: str
    reason_da: str = ""

    def why(self, locale: str) -> str:
        """The reason in English or Danish, for the administrator's page."""
        return self.reason if locale == "en" else self.reason_da


@dataclass(frozen=True)
class Conflict:
    """Two rules of equal priority that both apply to a pair and disagree."""

    service_type: str
    municipality_code: str
    priority: int
    rule_ids: tuple[str, str]
    detail: str


@dataclass(frozen=True)
class Shadowed:
    """A rule that can never match on the day checked."""

    rule_id: str
    line: int | None
    reason: str
    reason_da: str = ""

    def why(self, locale: str) -> str:
        return self.reason if locale == "en" else self.reason_da


@dataclass(frozen=True)
class InvalidTarget:
    """A rule whose target authority does not exist on the day checked."""

    rule_id: str
    line: int | None
    target: str
    message: str
    municipality_count: int
    message_da: str = ""

    def why(self, locale: str) -> str:
        return self.message if locale == "en" else self.message_da


@dataclass(frozen=True)
class CheckReport:
    """The result of ``check_rule_set``. ``ok`` is False on gaps or conflicts."""

    rule_set_version: str
    source: str
    day: date
    in_force: bool
    gaps: tuple[Gap, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    shadowed: tuple[Shadowed, ...] = ()
    invalid_targets: tuple[InvalidTarget, ...] = ()
    pairs_checked: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.gaps and not self.conflicts

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_set_version": self.rule_set_version,
            "source": self.source,
            "day": self.day.isoformat(),
            "in_force": self.in_force,
            "ok": self.ok,
            "pairs_checked": self.pairs_checked,
            "gaps": [g.__dict__ for g in self.gaps],
            "conflicts": [{**c.__dict__, "rule_ids": list(c.rule_ids)} for c in self.conflicts],
            "shadowed": [s.__dict__ for s in self.shadowed],
            "invalid_targets": [t.__dict__ for t in self.invalid_targets],
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """A readable report, grouping pairs that share a problem."""
        out = [
            f"Rule set {self.rule_set_version} ({self.source}) checked for {self.day.isoformat()}: "
            f"{self.pairs_checked} (service type, municipality) pairs.",
        ]
        out += [f"Note: {n}" for n in self.notes]
        grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
        for g in self.gaps:
            grouped[(g.service_type, g.reason)].append(
                f"{g.municipality_code} {g.municipality_name}"
            )
        out.append(f"Gaps: {len(self.gaps)}")
        for (service, reason), munis in grouped.items():
            out.append(f"  - {service}: {reason} ({len(munis)} municipalities: {_abbrev(munis)})")
        by_rules: dict[tuple, list[str]] = defaultdict(list)
        for c in self.conflicts:
            by_rules[(c.service_type, c.priority, c.rule_ids, c.detail)].append(c.municipality_code)
        out.append(f"Conflicts: {len(self.conflicts)}")
        for (service, priority, ids, detail), codes in by_rules.items():
            out.append(
                f"  - {service}: rules {ids[0]} and {ids[1]} (priority {priority}) disagree: "
                f"{detail} ({len(codes)} municipalities: {_abbrev(codes)})"
            )
        out.append(f"Shadowed rules: {len(self.shadowed)}")
        out += [f"  - {s.rule_id} (line {s.line}): {s.reason}" for s in self.shadowed]
        out.append(f"Targets not valid on {self.day.isoformat()}: {len(self.invalid_targets)}")
        out += [
            f"  - {t.rule_id} (line {t.line}): {t.message} ({t.municipality_count} municipalities)"
            for t in self.invalid_targets
        ]
        out.append("OK" if self.ok else "NOT OK: gaps or conflicts")
        return "\n".join(out)


def _abbrev(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... {len(items) - limit} more" if len(items) > limit else "")


def _signature(rule: Rule, municipality, snapshot) -> tuple:
    return tuple(
        (
            target.id
            if not isinstance(target := resolve_target(a.to, municipality, snapshot), Unresolved)
            else a.to,
            a.role,
            a.target_days,
            a.limit_days,
            a.day_kind,
        )
        for a in rule.assignments
    )


def check_rule_set(rule_set: RuleSet, registry: Registry, day: date) -> CheckReport:
    """Check ``rule_set`` for every service type of the catalogue it was parsed against
    (``rule_set.services``) and every municipality valid on ``day``.

    A gap is a pair where no unconditional rule with valid targets applies, so some
    request could get no target. A conflict is two rules of equal priority that both
    apply to a pair (their conditions are assumed to overlap) and assign differently. A
    rule is shadowed when, on ``day``, no pair can reach it: it is out of scope
    everywhere, its condition is ``false``, or a rule ahead of it always matches first.
    """
    snapshot = registry.on(day)
    municipalities = snapshot.of_kind(AuthorityKind.MUNICIPALITY)
    gaps: list[Gap] = []
    conflicts: list[Conflict] = []
    reachable: set[str] = set()
    shadow_reason: dict[str, tuple[str, str]] = {}  # rule id -> (English, Danish)
    invalid: dict[tuple[str, str], list] = {}

    services = rule_set.services
    for service in services:
        for municipality in municipalities:
            rules = candidates_for(rule_set, service, municipality, snapshot)
            fallback_ok = False
            gap_reason = (("no rule applies", "ingen regel gælder") if not rules
                          else ("only conditional rules apply", "kun regler med betingelser gælder"))
            seen_conditions: list = []
            blocked_by: Rule | None = None
            for rule in rules:
                errors = [
                    (a.to, t)
                    for a in rule.assignments
                    if isinstance(t := resolve_target(a.to, municipality, snapshot), Unresolved)
                ]
                for target, message in errors:
                    invalid.setdefault((rule.id, target), [message, 0])[1] += 1
                if blocked_by is not None:
                    shadow_reason.setdefault(rule.id, (f"rule {blocked_by.id} always matches first",
                                                       f"reglen {blocked_by.id} gælder altid først"))
                    continue
                if rule.condition is not None and is_constant_false(rule.condition):
                    shadow_reason.setdefault(rule.id, ("its condition is always false",
                                                       "dens betingelse er aldrig opfyldt"))
                    continue
                if rule.condition is not None and rule.condition in seen_conditions:
                    shadow_reason.setdefault(rule.id, ("an earlier rule has the same condition",
                                                       "en tidligere regel har samme betingelse"))
                    continue
                reachable.add(rule.id)
                if rule.condition is None:
                    blocked_by = rule
                    if errors:
                        gap_reason = (f"rule {rule.id} has no valid target: {errors[0][1].en}",
                                      f"reglen {rule.id} har ingen gyldig modtager: {errors[0][1].da}")
                    else:
                        fallback_ok = True
                else:
                    seen_conditions.append(rule.condition)
            if not fallback_ok:
                gaps.append(Gap(service, municipality.code, municipality.name_da, *gap_reason))
            by_priority: dict[int, list[Rule]] = defaultdict(list)
            for rule in rules:
                by_priority[rule.priority].append(rule)
            for priority, group in by_priority.items():
                for i, a in enumerate(group):
                    for b in group[i + 1 :]:
                        sig_a = _signature(a, municipality, snapshot)
                        sig_b = _signature(b, municipality, snapshot)
                        if sig_a != sig_b:
                            conflicts.append(
                                Conflict(
                                    service,
                                    municipality.code,
                                    priority,
                                    (a.id, b.id),
                                    f"{_describe(sig_a)} vs {_describe(sig_b)}",
                                )
                            )

    shadowed = []
    for rule in rule_set.rules:
        if rule.id in reachable:
            continue
        reason = shadow_reason.get(rule.id)
        if reason is None:
            reason = (
                (f"no municipality valid on {day.isoformat()} is in its scope",
                 f"ingen kommune, der er gyldig den {day.isoformat()}, er omfattet af den")
                if rule.service_type in services
                else ("unknown service type", "ukendt ydelsestype")
            )
        shadowed.append(Shadowed(rule.id, rule.line, *reason))
    lines = {r.id: r.line for r in rule_set.rules}
    invalid_targets = tuple(
        InvalidTarget(rule_id, lines.get(rule_id), target, message.en, count, message.da)
        for (rule_id, target), (message, count) in invalid.items()
    )
    in_force = rule_set.valid_on(day)
    notes = (
        ()
        if in_force
        else (
            f"the rule set is not in force on {day.isoformat()} "
            f"(valid from {rule_set.valid_from.isoformat()}"
            + (f" to {rule_set.valid_to.isoformat()})" if rule_set.valid_to else ")"),
        )
    )
    return CheckReport(
        rule_set_version=rule_set.version,
        source=rule_set.source,
        day=day,
        in_force=in_force,
        gaps=tuple(gaps),
        conflicts=tuple(conflicts),
        shadowed=tuple(shadowed),
        invalid_targets=invalid_targets,
        pairs_checked=len(services) * len(municipalities),
        notes=notes,
    )


def _describe(signature: tuple) -> str:
    return " + ".join(
        f"{t} {role} {target}/{limit} {kind}" for t, role, target, limit, kind in signature
    )
