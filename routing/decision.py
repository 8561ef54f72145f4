"""What the engine returns: assignments and an explanation, as frozen, JSON-ready data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any

from routing.facts import RequestFacts


@dataclass(frozen=True, slots=True)
class Assignment:
    """One authority's part in a request, with the deadlines that apply.

    ``target_days`` is the service target and ``limit_days`` the legal or published
    limit (target <= limit), counted in ``day_kind`` days ("working" skips weekends and
    Danish public holidays, "calendar" does not).
    """

    authority_id: str
    authority_name_da: str
    authority_name_en: str
    role: str  # "decides" | "contributes"
    rule_id: str
    target_days: int
    limit_days: int
    day_kind: str  # "working" | "calendar"
    task_da: str | None = None
    task_en: str | None = None

    def authority_name(self, locale: str) -> str:
        return self.authority_name_en if locale == "en" else self.authority_name_da

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Assignment:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class RuleNote:
    """Why one rule was matched or passed over.

    ``outcome`` is "matched", "condition-not-met", "lower-priority" or "out-of-scope".
    """

    rule_id: str
    priority: int
    outcome: str
    why_da: str
    why_en: str

    def why(self, locale: str) -> str:
        return self.why_en if locale == "en" else self.why_da


_OUTCOME_LABEL = {
    "matched": ("Valgt", "Matched"),
    "condition-not-met": ("Betingelse ikke opfyldt", "Condition not met"),
    "lower-priority": ("Lavere prioritet", "Lower priority"),
    "out-of-scope": ("Gælder ikke her", "Does not apply here"),
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a request went where it went: the rules matched and passed over, and a
    plain-language sentence for the citizen in Danish and English.

    The engine builds one explanation per (rule, municipality, registry period) when it
    compiles a rule set, so a decision shares it instead of building text each time. It
    also carries what it explains: the rule-set version and the assignments.
    """

    service_type: str
    municipality_code: str
    matched: tuple[RuleNote, ...]
    passed_over: tuple[RuleNote, ...]
    citizen_da: str
    citizen_en: str
    rule_set_version: str = ""
    assignments: tuple[Assignment, ...] = ()

    def citizen_text(self, locale: str = "da") -> str:
        """The sentence shown to the citizen, in "da" or "en"."""
        return self.citizen_en if locale == "en" else self.citizen_da

    def staff_text(self, locale: str = "da") -> str:
        """The full explanation for caseworkers and administrators: every rule
        considered for the request, matched or passed over, and why."""
        en = locale == "en"
        lines = [self.citizen_text(locale), ""]
        lines.append("Matched rules:" if en else "Valgte regler:")
        lines += [
            f"  - {n.rule_id} (priority {n.priority}): {n.why(locale)}"
            if en
            else f"  - {n.rule_id} (prioritet {n.priority}): {n.why(locale)}"
            for n in self.matched
        ]
        if self.passed_over:
            lines.append("Passed over:" if en else "Fravalgte regler:")
            for n in self.passed_over:
                label = _OUTCOME_LABEL[n.outcome][1 if en else 0]
                prio = "priority" if en else "prioritet"
                lines.append(f"  - {n.rule_id} ({prio} {n.priority}), {label}: {n.why(locale)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "service_type": self.service_type,
            "municipality_code": self.municipality_code,
            "matched": [asdict(n) for n in self.matched],
            "passed_over": [asdict(n) for n in self.passed_over],
            "citizen_da": self.citizen_da,
            "citizen_en": self.citizen_en,
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        rule_set_version: str = "",
        assignments: tuple[Assignment, ...] = (),
    ) -> Explanation:
        """The explanation stored by ``to_dict`` (which leaves out the version and the
        assignments: the decision stores those)."""
        return cls(
            service_type=data["service_type"],
            municipality_code=data["municipality_code"],
            matched=tuple(RuleNote(**n) for n in data["matched"]),
            passed_over=tuple(RuleNote(**n) for n in data["passed_over"]),
            citizen_da=data["citizen_da"],
            citizen_en=data["citizen_en"],
            rule_set_version=rule_set_version,
            assignments=tuple(assignments),
        )


@dataclass(frozen=True, slots=True, init=False)
class RoutingDecision:
    """Where a request goes, by which rule-set version, and why.

    Built as ``RoutingDecision(rule_set_version, filed_on, facts, assignments,
    explanation)``; ``filed_on`` is the facts' filing date. Internally a decision is
    the facts plus the explanation the engine prepared for the matching rule (which
    carries the version and assignments), so routing a request allocates one small
    object.
    """

    facts: RequestFacts
    explanation: Explanation

    def __init__(
        self,
        rule_set_version: str,
        filed_on: date,
        facts: RequestFacts,
        assignments: tuple[Assignment, ...],
        explanation: Explanation,
    ):
        if filed_on != facts.filed_on:
            raise ValueError("a decision's filing date is its facts' filing date")
        same = explanation.assignments is assignments or explanation.assignments == tuple(
            assignments
        )
        if explanation.rule_set_version != rule_set_version or not same:
            explanation = replace(
                explanation, rule_set_version=rule_set_version, assignments=tuple(assignments)
            )
        object.__setattr__(self, "facts", facts)
        object.__setattr__(self, "explanation", explanation)

    @property
    def rule_set_version(self) -> str:
        return self.explanation.rule_set_version

    @property
    def filed_on(self) -> date:
        return self.facts.filed_on

    @property
    def assignments(self) -> tuple[Assignment, ...]:
        return self.explanation.assignments

    @property
    def deciding(self) -> Assignment:
        """The assignment with role "decides" (the first one if several)."""
        return next((a for a in self.assignments if a.role == "decides"), self.assignments[0])

    def targets(self) -> tuple[tuple[str, str], ...]:
        """(authority id, role) of each assignment, for comparing decisions."""
        return tuple((a.authority_id, a.role) for a in self.assignments)

    def staff_text(self, locale: str = "da") -> str:
        """The explanation for staff, headed by the version, date and assignments."""
        en = locale == "en"
        head = (
            f"Rule set {self.rule_set_version}, filed {self.filed_on.isoformat()}, "
            f"service {self.facts.service_type}, municipality {self.facts.municipality_code}."
            if en
            else f"Regelsæt {self.rule_set_version}, indgivet {self.filed_on.isoformat()}, "
            f"ydelse {self.facts.service_type}, kommune {self.facts.municipality_code}."
        )
        kinds = {
            "working": ("arbejdsdage", "working days"),
            "calendar": ("kalenderdage", "calendar days"),
        }
        roles = {
            "decides": ("træffer afgørelse", "decides"),
            "contributes": ("bidrager", "contributes"),
        }
        rows = []
        for a in self.assignments:
            kind = kinds[a.day_kind][1 if en else 0]
            role = roles[a.role][1 if en else 0]
            rows.append(
                f"  {a.authority_name(locale)} {role}: "
                + (
                    f"target {a.target_days}, limit {a.limit_days} {kind} (rule {a.rule_id})"
                    if en
                    else f"mål {a.target_days}, frist {a.limit_days} {kind} (regel {a.rule_id})"
                )
            )
        return "\n".join([head, *rows, "", self.explanation.staff_text(locale)])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict`` gives the decision back."""
        return {
            "rule_set_version": self.rule_set_version,
            "filed_on": self.filed_on.isoformat(),
            "facts": self.facts.to_dict(),
            "assignments": [a.to_dict() for a in self.assignments],
            "explanation": self.explanation.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingDecision:
        """The decision stored by ``to_dict``."""
        version = data["rule_set_version"]
        assignments = tuple(Assignment.from_dict(a) for a in data["assignments"])
        return cls(
            rule_set_version=version,
            filed_on=date.fromisoformat(data["filed_on"]),
            facts=RequestFacts.from_dict(data["facts"]),
            assignments=assignments,
            explanation=Explanation.from_dict(data["explanation"], version, assignments),
        )


class DecisionLayout:
    """The slots of ``RoutingDecision`` without its frozen ``__setattr__``.

    Building a frozen dataclass through its ``__init__`` costs an
    ``object.__setattr__`` per field, and the engine builds a decision per request. So
    it fills one of these with plain attribute stores and then assigns its
    ``__class__`` to ``RoutingDecision`` (allowed between classes with the same slot
    layout). The result is an ordinary, equal, immutable ``RoutingDecision``; a test
    pins that, and the assignment fails loudly if the two layouts ever differ.
    """

    __slots__ = ("facts", "explanation")
