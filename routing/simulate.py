"""Replay past requests through a draft rule set and report what would change."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from routing.engine import CompiledRuleSet, NoRoute, UnknownMunicipality
from routing.facts import RequestFacts


@dataclass(frozen=True)
class Move:
    """Requests that would go from one set of targets to another, and the rule why."""

    service_type: str
    old_targets: tuple[str, ...]
    new_targets: tuple[str, ...]
    rule_id: str
    reason_en: str
    count: int
    reason_da: str = ""

    def reason(self, locale: str) -> str:
        """Why, in Danish or English (as the routing explanation gives it)."""
        return self.reason_en if locale == "en" else self.reason_da


@dataclass(frozen=True)
class SimulationReport:
    """What replaying ``total`` past requests through a draft would change."""

    draft_version: str
    total: int
    unchanged: int
    changed: int
    no_route: int
    moves: tuple[Move, ...]
    failures: tuple[tuple[str, str, int], ...]  # (service type, message, count)

    def to_dict(self) -> dict[str, Any]:
        return {
            "draft_version": self.draft_version,
            "total": self.total,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "no_route": self.no_route,
            "moves": [
                {
                    **m.__dict__,
                    "old_targets": list(m.old_targets),
                    "new_targets": list(m.new_targets),
                }
                for m in self.moves
            ],
            "failures": [list(f) for f in self.failures],
        }

    def to_text(self) -> str:
        out = [
            f"Replayed {self.total} requests through rule set {self.draft_version}: "
            f"{self.unchanged} unchanged, {self.changed} would go elsewhere, "
            f"{self.no_route} would get no target."
        ]
        for m in self.moves:
            out.append(
                f"  - {m.count} x {m.service_type}: {' + '.join(m.old_targets)} -> "
                f"{' + '.join(m.new_targets)} (rule {m.rule_id}: {m.reason_en})"
            )
        for service, message, count in self.failures:
            out.append(f"  - {count} x {service}: no target: {message}")
        return "\n".join(out)


def _old_targets(old: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(f"{a['authority_id']} ({a['role']})" for a in old.get("assignments", ()))


def simulate(
    past: Iterable[tuple[RequestFacts, Mapping[str, Any]]], draft: CompiledRuleSet
) -> SimulationReport:
    """Route each past request's facts with ``draft`` and compare with the stored
    decision dict (``RoutingDecision.to_dict()``). Requests are grouped by where they
    would move and by the draft rule that moves them."""
    total = unchanged = changed = no_route = 0
    moves: Counter = Counter()
    reasons: dict[tuple, str] = {}
    failures: Counter = Counter()
    for facts, old in past:
        total += 1
        try:
            decision = draft.route(facts)
        except (NoRoute, UnknownMunicipality) as exc:
            no_route += 1
            failures[(facts.service_type, str(exc).split(" on ")[0])] += 1
            continue
        before = _old_targets(old)
        after = tuple(f"{a.authority_id} ({a.role})" for a in decision.assignments)
        if before == after:
            unchanged += 1
            continue
        changed += 1
        note = decision.explanation.matched[0]
        key = (facts.service_type, before, after, note.rule_id)
        moves[key] += 1
        reasons[key] = (note.why_en, note.why_da)
    return SimulationReport(
        draft_version=draft.version,
        total=total,
        unchanged=unchanged,
        changed=changed,
        no_route=no_route,
        moves=tuple(
            Move(key[0], key[1], key[2], key[3], reasons[key][0], count, reason_da=reasons[key][1])
            for key, count in moves.most_common()
        ),
        failures=tuple((s, m, c) for (s, m), c in failures.most_common()),
    )
