"""Compile a rule set into an index once per version and route requests with it.

``compile_rule_set`` resolves, for every registry period (the registry changes on
2027-01-01, for example), every (service type, municipality) pair to the short list of
rules that apply there, ordered by priority, with each rule's target authorities and
explanation worked out in advance. Routing a request is then three dictionary lookups (day,
service type, municipality), the conditions of any conditional rules ahead of the first
unconditional one, and one small object.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from routing.conditions import compile_condition
from routing.decision import (
    Assignment,
    DecisionLayout,
    Explanation,
    RoutingDecision,
    RuleNote,
)
from routing.facts import RequestFacts
from routing.registry import (
    Authority,
    Registry,
    RegistrySnapshot,
    UnknownMunicipality,
    _normalise_code,
)
from routing.rules import RESIDENCE_MUNICIPALITY, RESIDENCE_REGION, Rule, RuleSet
from routing.service_types import ServiceType

__all__ = [
    "CompiledRuleSet",
    "NoRoute",
    "UnknownMunicipality",
    "UnknownServiceType",
    "compile_rule_set",
    "candidates_for",
]


class NoRoute(LookupError):
    """No rule gives the request a target: a gap in the rule set, a target authority
    not valid on the filing date, or a rule set not in force on that date."""


class UnknownServiceType(NoRoute):
    """The service type is not one the rule set knows."""


_MIN, _MAX = date.min, date.max


@dataclass(frozen=True, slots=True)
class _Built:
    """What matching one rule for one municipality gives: assignments and explanation,
    or the reason the rule cannot produce a target (``error``)."""

    assignments: tuple[Assignment, ...]
    explanation: Explanation | None
    error: str | None = None


# A candidate is (condition or None, explanation, error); when the rule cannot give a
# target, explanation is None and error says why. A pair's entry is a tuple of candidates
# ending at the first unconditional rule, or just the Explanation (which carries the
# assignments) when that rule comes first.
_Candidate = tuple[Callable[[Mapping[str, Any]], bool] | None, Explanation | None, str | None]


@dataclass(frozen=True, slots=True)
class _Period:
    start: date
    end: date
    # service type -> municipality code -> candidates
    table: Mapping[str, Mapping[str, tuple[_Candidate, ...]]]


class CompiledRuleSet:
    """A rule set indexed for fast routing; build it with ``compile_rule_set``."""

    def __init__(
        self, rule_set: RuleSet, registry: Registry | None, snapshot: RegistrySnapshot | None
    ):
        self.rule_set = rule_set
        self.version = rule_set.version
        self._registry = registry
        self._conditions = {
            r.id: compile_condition(r.condition, rule_set.conditions)
            for r in rule_set.rules
            if r.condition is not None
        }
        self._lock = threading.Lock()
        self._periods: list[_Period] = []
        self._starts: list[date] = []
        self._valid_from = rule_set.valid_from
        self._valid_to = rule_set.valid_to or _MAX
        if snapshot is not None:
            self._add(self._compile_period(snapshot))
        # filing day -> table; days repeat a lot, and a dict lookup beats a range test.
        self._by_day: dict[date, Mapping[str, Mapping[str, tuple[_Candidate, ...]]]] = {}
        self._route = self._build_router()

    # -- public ---------------------------------------------------------------------

    def route(self, facts: RequestFacts) -> RoutingDecision:
        """The decision for ``facts``.

        Raises ``UnknownMunicipality`` for a municipality code not valid on the filing
        date, ``UnknownServiceType`` for a service type without rules, and ``NoRoute``
        when no rule gives a target.
        """
        return self._route(facts)

    def router(self) -> Callable[[RequestFacts], RoutingDecision]:
        """``route`` as a plain function, for hot loops (it skips a method call)."""
        return self._route

    def _build_router(self) -> Callable[[RequestFacts], RoutingDecision]:
        # A closure: everything the hot path touches is a local or a cell, not a global
        # or an attribute lookup. This is the whole per-request cost of routing.
        by_day = self._by_day
        table_for = self._table_for
        slow = self._candidates_slow
        version = self.version
        layout, decision_class = DecisionLayout, RoutingDecision

        def route(facts: RequestFacts) -> RoutingDecision:
            day = facts.filed_on
            table = by_day.get(day)
            if table is None:
                table = table_for(day)
            by_municipality = table.get(facts.service_type)
            if by_municipality is None:
                raise UnknownServiceType(
                    f"rule set {version} has no rules for service type {facts.service_type!r}"
                )
            entry = by_municipality.get(facts.municipality_code)
            if entry is None:
                entry = slow(by_municipality, facts)
            if entry.__class__ is not tuple:
                # The common case: the first rule for the pair is unconditional, and
                # the entry is its explanation (which carries the assignments).
                decision = layout()
                decision.facts = facts
                decision.explanation = entry
                decision.__class__ = decision_class
                return decision
            attributes = facts.attributes
            for condition, explanation, error in entry:
                if condition is None or condition(attributes):
                    if error is not None:
                        raise NoRoute(error)
                    decision = layout()
                    decision.facts = facts
                    decision.explanation = explanation
                    decision.__class__ = decision_class
                    return decision
            raise NoRoute(
                f"rule set {version}: no rule routes {facts.service_type!r} for municipality "
                f"{facts.municipality_code} on {day.isoformat()}"
            )

        return route

    def prepare(self, day: date) -> None:
        """Compile now the period holding ``day`` (else the first request of that
        period pays for it). Raises ``NoRoute`` when the rule set is not in force."""
        self._table_for(day)

    def candidates(
        self, service_type: str, municipality_code: str, day: date
    ) -> tuple[_Candidate, ...]:
        """The candidates for one pair on ``day`` (for checks and tests)."""
        table = self._period_for(day).table
        entry = table.get(service_type, {}).get(_normalise_code(municipality_code), ())
        return ((None, entry, None),) if isinstance(entry, Explanation) else entry

    # -- internals ------------------------------------------------------------------

    def _candidates_slow(self, by_municipality, facts: RequestFacts):
        try:
            code = _normalise_code(facts.municipality_code)
        except (TypeError, ValueError):
            raise UnknownMunicipality(facts.municipality_code) from None
        candidates = by_municipality.get(code)
        if candidates is None:
            raise UnknownMunicipality(facts.municipality_code)
        return candidates

    def _table_for(self, day: date):
        table = self._period_for(day).table
        if len(self._by_day) > 50_000:  # bound the cache; it refills in a few lookups
            self._by_day.clear()  # in place: the router closure holds this dict
        self._by_day[day] = table
        return table

    def _period_for(self, day: date) -> _Period:
        if not (self._valid_from <= day < self._valid_to):
            raise NoRoute(f"rule set {self.version} is not in force on {day.isoformat()}")
        with self._lock:  # threads of one worker may meet a new period together
            index = bisect_right(self._starts, day) - 1
            if index >= 0 and day < self._periods[index].end:
                return self._periods[index]
            if self._registry is not None:
                return self._add(self._compile_period(self._registry.on(day)))
        raise NoRoute(
            f"rule set {self.version} was compiled for the registry of another period "
            f"than {day.isoformat()}"
        )

    def _add(self, period: _Period) -> _Period:
        index = bisect_right(self._starts, period.start)
        self._starts.insert(index, period.start)
        self._periods.insert(index, period)
        return period

    def _compile_period(self, snapshot: RegistrySnapshot) -> _Period:
        start = max(snapshot.period_from or _MIN, self._valid_from)
        end = min(snapshot.period_to or _MAX, self._valid_to)
        by_service: dict[str, list[Rule]] = {}
        for rule in self.rule_set.rules:
            by_service.setdefault(rule.service_type, []).append(rule)
        order = {r.id: i for i, r in enumerate(self.rule_set.rules)}
        table: dict[str, dict[str, tuple[_Candidate, ...]]] = {}
        for service, rules in by_service.items():
            rules.sort(key=lambda r: (-r.priority, order[r.id]))
            per_municipality = {}
            for municipality in snapshot.municipality_by_code.values():
                per_municipality[municipality.code] = self._entry(
                    service, municipality, rules, snapshot
                )
            table[service] = per_municipality
        return _Period(start, end, table)

    def _entry(self, service, municipality, rules, snapshot) -> tuple[_Candidate, ...]:
        in_scope, out_of_scope = [], []
        for rule in rules:
            (in_scope if applies_to(rule, municipality, snapshot) else out_of_scope).append(rule)
        reachable = []
        for rule in in_scope:
            reachable.append(rule)
            if rule.unconditional:
                break
        candidates = []
        for index, rule in enumerate(reachable):
            outcome = outcome_for(
                self.version,
                service,
                municipality,
                rule,
                snapshot,
                failed=reachable[:index],
                lower=in_scope[index + 1 :],
                out_of_scope=out_of_scope,
                services=self.rule_set.services,
            )
            if outcome.error is not None:
                candidates.append((self._conditions.get(rule.id), None, outcome.error))
            else:
                candidates.append(
                    (
                        self._conditions.get(rule.id),
                        outcome.explanation,
                        None,
                    )
                )
        if len(candidates) == 1 and candidates[0][0] is None and candidates[0][2] is None:
            return candidates[0][1]
        return tuple(candidates)


def applies_to(rule: Rule, municipality: Authority, snapshot: RegistrySnapshot) -> bool:
    """True when ``rule``'s scope (municipalities, regions) includes ``municipality``."""
    if rule.municipalities is not None and municipality.code not in rule.municipalities:
        return False
    if rule.regions is not None:
        region = snapshot.region_by_municipality.get(municipality.id)
        if region is None or region.id not in rule.regions:
            return False
    return True


@dataclass(frozen=True)
class Unresolved:
    """Why a rule's target points at no authority, in English (``str()``) and Danish."""

    en: str
    da: str

    def __str__(self) -> str:
        return self.en


def resolve_target(to: str, municipality: Authority, snapshot: RegistrySnapshot) -> Authority | Unresolved:
    """The authority ``to`` points at for ``municipality`` on the snapshot's day, or
    why there is none."""
    if to == RESIDENCE_MUNICIPALITY:
        return municipality
    if to == RESIDENCE_REGION:
        region = snapshot.region_by_municipality.get(municipality.id)
        if region is None:
            day = snapshot.day.isoformat()
            return Unresolved(f"{municipality.name_da} belongs to no region on {day}",
                              f"{municipality.name_da} hører ikke til en region den {day}")
        return region
    authority = snapshot.get(to)
    if authority is None:
        day = snapshot.day.isoformat()
        return Unresolved(f"authority {to!r} is not valid on {day}", f"myndigheden {to!r} er ikke gyldig den {day}")
    return authority


def candidates_for(
    rule_set: RuleSet, service: str, municipality: Authority, snapshot: RegistrySnapshot
):
    """The rules in scope for one pair, highest priority first (for ``routing.check``)."""
    order = {r.id: i for i, r in enumerate(rule_set.rules)}
    rules = [r for r in rule_set.rules if r.service_type == service]
    rules.sort(key=lambda r: (-r.priority, order[r.id]))
    return [r for r in rules if applies_to(r, municipality, snapshot)]


# -- explanations ---------------------------------------------------------------------

_PHRASE = {
    RESIDENCE_MUNICIPALITY: ("den kommune, du bor i", "the municipality you live in"),
    RESIDENCE_REGION: (
        "den region, din kommune hører til",
        "the region your municipality belongs to",
    ),
}


def _join(items: list[str], word: str) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


def outcome_for(
    version: str,
    service: str,
    municipality: Authority,
    rule: Rule,
    snapshot: RegistrySnapshot,
    failed: list[Rule],
    lower: list[Rule],
    out_of_scope: list[Rule],
    *,
    services: Mapping[str, ServiceType],
) -> _Built:
    """The assignments and explanation of ``rule`` matching for ``municipality``:
    ``failed`` are the rules ahead of it whose conditions did not hold, ``lower`` the
    rules behind it, ``out_of_scope`` the service's rules that do not apply there;
    ``services`` are the catalogue's service types (the rule set's ``services``)."""
    assignments, names = [], []
    for spec in rule.assignments:
        target = resolve_target(spec.to, municipality, snapshot)
        if isinstance(target, Unresolved):
            return _Built((), None, f"rule {rule.id!r}: {target}")
        assignments.append(
            Assignment(
                authority_id=target.id,
                authority_name_da=target.name_da,
                authority_name_en=target.name_en,
                role=spec.role,
                rule_id=rule.id,
                target_days=spec.target_days,
                limit_days=spec.limit_days,
                day_kind=spec.day_kind,
                task_da=spec.task_da,
                task_en=spec.task_en,
            )
        )
        names.append(target.name_da)
    assignments = tuple(assignments)
    kind = services[service]
    if rule.because_da:
        reason_da, reason_en = rule.because_da, rule.because_en
    else:
        phrases_da, phrases_en = [], []
        for spec, a in zip(rule.assignments, assignments, strict=True):
            da, en = _PHRASE.get(spec.to, (a.authority_name_da, a.authority_name_da))
            phrases_da.append(da)
            phrases_en.append(en)
        reason_da = f"{kind.name_da} hører under {_join(phrases_da, 'og')}"
        reason_en = f"{kind.handled_en} by {_join(phrases_en, 'and')}"
    # Citizens see the authority's Danish name in both languages: it is the name on the
    # letters they will get.
    citizen_da = f"Din {kind.request_da} går til {_join(names, 'og')}, fordi {reason_da}."
    citizen_en = f"Your {kind.request_en} goes to {_join(names, 'and')} because {reason_en}."
    tasks = [a for a in assignments if a.task_da]
    if tasks:
        citizen_da += "".join(f" {a.authority_name_da} {a.task_da}." for a in tasks)
        citizen_en += "".join(f" {a.authority_name_da} {a.task_en}." for a in tasks)

    where_da, where_en = _scope_text(rule)
    if rule.when:
        why_da = f"betingelsen «{rule.when}» er opfyldt{where_da}"
        why_en = f"condition «{rule.when}» holds{where_en}"
    else:
        why_da = f"gælder alle henvendelser om {kind.name_da}{where_da}"
        why_en = f"applies to every request for {kind.name_en}{where_en}"
    targets_da = "; ".join(
        f"{s.to} → {a.authority_name_da}"
        for s, a in zip(rule.assignments, assignments, strict=True)
    )
    matched = RuleNote(
        rule.id, rule.priority, "matched", f"{why_da} ({targets_da})", f"{why_en} ({targets_da})"
    )

    passed = [
        RuleNote(
            r.id,
            r.priority,
            "condition-not-met",
            f"betingelsen «{r.when}» er ikke opfyldt",
            f"condition «{r.when}» does not hold",
        )
        for r in failed
    ]
    for r in lower:
        if r.priority == rule.priority:
            da = f"regel {rule.id} med samme prioritet står før"
            en = f"rule {rule.id} with the same priority comes first"
        else:
            da = f"regel {rule.id} med højere prioritet gælder"
            en = f"rule {rule.id} with higher priority applies"
        passed.append(RuleNote(r.id, r.priority, "lower-priority", da, en))
    for r in out_of_scope:
        da, en = _scope_text(r)
        passed.append(
            RuleNote(
                r.id,
                r.priority,
                "out-of-scope",
                f"gælder kun{da.removeprefix(' ')}",
                f"applies only{en}",
            )
        )
    explanation = Explanation(
        service_type=service,
        municipality_code=municipality.code,
        matched=(matched,),
        passed_over=tuple(passed),
        citizen_da=citizen_da,
        citizen_en=citizen_en,
        rule_set_version=version,
        assignments=assignments,
    )
    return _Built(assignments, explanation)


def _scope_text(rule: Rule) -> tuple[str, str]:
    parts_da, parts_en = [], []
    if rule.municipalities is not None:
        codes = ", ".join(sorted(rule.municipalities, key=int))
        parts_da.append(f"i kommunerne {codes}")
        parts_en.append(f"in municipalities {codes}")
    if rule.regions is not None:
        regions = ", ".join(sorted(rule.regions))
        parts_da.append(f"i regionerne {regions}")
        parts_en.append(f"in regions {regions}")
    if not parts_da:
        return "", ""
    return " " + " og ".join(parts_da), " " + " and ".join(parts_en)


def compile_rule_set(rule_set: RuleSet, registry: Registry | RegistrySnapshot) -> CompiledRuleSet:
    """Index ``rule_set`` for routing against the authority registry.

    Given a ``RegistrySnapshot``, the compiled set routes requests filed in the
    snapshot's period (``snapshot.period_from`` to ``period_to``). Given a ``Registry``,
    it compiles each registry period on first use, so one compiled set serves requests
    filed on both sides of 2027-01-01.
    """
    if isinstance(registry, Registry):
        return CompiledRuleSet(rule_set, registry, None)
    return CompiledRuleSet(rule_set, None, registry)
