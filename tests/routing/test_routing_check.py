"""The check finds gaps, conflicts, shadowed rules and invalid targets."""

from __future__ import annotations

from datetime import date

import pytest

from routing import default_rules_path
from routing.check import check_rule_set
from routing.rules import parse_rule_set

BEFORE, AFTER = date(2026, 12, 31), date(2027, 1, 1)


@pytest.mark.parametrize("day", [date(2026, 1, 1), BEFORE, AFTER, date(2030, 6, 1)], ids=str)
def test_default_rule_set_passes_its_own_check(default_rules, registry, day):
    report = check_rule_set(default_rules, registry, day)
    assert report.ok, report.to_text()
    assert report.pairs_checked == 13 * 98
    assert not report.shadowed and not report.invalid_targets


def _planted(extra: str, drop: str | None = None):
    text = default_rules_path().read_text(encoding="utf-8")
    if drop:
        start = text.index(f"  - id: {drop}\n")
        end = text.index("  - id:", start + 1)
        text = text[:start] + text[end:]
    return parse_rule_set(text + extra, "planted.yaml")


def test_planted_gap_is_found(registry):
    # Disability aids lose their general rule; only Odense keeps one.
    rule_set = _planted(
        """
  - id: aids-odense
    service: disability-aids
    municipalities: ["461"]
    assign:
      - {to: residence-municipality, role: decides, target_days: 5, limit_days: 10}
""",
        drop="disability-aids",
    )
    report = check_rule_set(rule_set, registry, BEFORE)
    assert not report.ok
    gaps = {(g.service_type, g.municipality_code) for g in report.gaps}
    assert len(gaps) == 97
    assert ("disability-aids", "101") in gaps and ("disability-aids", "461") not in gaps
    assert "Gaps: 97" in report.to_text()


def test_only_conditional_rules_are_a_gap(registry):
    rule_set = _planted(
        """
  - id: aids-old
    service: disability-aids
    when: "age >= 67"
    assign:
      - {to: residence-municipality, role: decides, target_days: 5, limit_days: 10}
""",
        drop="disability-aids",
    )
    report = check_rule_set(rule_set, registry, BEFORE)
    assert {g.reason for g in report.gaps} == {"only conditional rules apply"}


def test_planted_conflict_is_found(registry):
    rule_set = _planted(
        """
  - id: tax-to-udk-in-aarhus
    service: tax-question
    priority: 10
    municipalities: ["751"]
    assign:
      - {to: state-udbetaling-danmark, role: decides, target_days: 10, limit_days: 20}
"""
    )
    report = check_rule_set(rule_set, registry, BEFORE)
    assert not report.ok
    (conflict,) = report.conflicts
    assert (conflict.service_type, conflict.municipality_code, conflict.priority) == (
        "tax-question",
        "751",
        10,
    )
    assert conflict.rule_ids == ("tax-question", "tax-to-udk-in-aarhus")
    assert "state-skattestyrelsen" in conflict.detail


def test_equal_priority_rules_that_agree_are_no_conflict(registry):
    rule_set = _planted(
        """
  - id: tax-again
    service: tax-question
    priority: 10
    assign:
      - {to: state-skattestyrelsen, role: decides, target_days: 10, limit_days: 20}
"""
    )
    report = check_rule_set(rule_set, registry, BEFORE)
    assert report.ok and not report.conflicts
    assert [s.rule_id for s in report.shadowed] == ["tax-again"]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (
            """
  - id: home-care-never
    service: home-care
    priority: 5
    when: "age >= 67"
    assign:
      - {to: residence-region, role: decides, target_days: 5, limit_days: 10}
""",
            "rule home-care always matches first",
        ),
        (
            """
  - id: home-care-false
    service: home-care
    priority: 50
    when: "false"
    assign:
      - {to: residence-region, role: decides, target_days: 5, limit_days: 10}
""",
            "its condition is always false",
        ),
    ],
)
def test_planted_shadowed_rule_is_found(registry, extra, reason):
    rule_set = _planted(extra)
    report = check_rule_set(rule_set, registry, BEFORE)
    (shadowed,) = report.shadowed
    assert shadowed.reason == reason
    assert shadowed.line is not None and shadowed.line > 200
    assert report.ok  # shadowed rules alone do not block publishing


def test_region_scoped_rule_is_shadowed_after_its_region_ends(registry):
    rule_set = _planted(
        """
  - id: capital-psychiatry
    service: psychiatric-treatment
    priority: 20
    regions: [region-1084]
    assign:
      - {to: residence-region, role: decides, target_days: 14, limit_days: 30, day_kind: calendar}
"""
    )
    assert not check_rule_set(rule_set, registry, BEFORE).shadowed
    (shadowed,) = check_rule_set(rule_set, registry, AFTER).shadowed
    assert shadowed.rule_id == "capital-psychiatry"
    assert "no municipality valid on 2027-01-01" in shadowed.reason


def test_target_not_valid_on_the_day_is_reported_and_is_a_gap(registry):
    # Psychiatry pinned to Region Sjælland, which ends on 2027-01-01.
    rule_set = _planted(
        """
  - id: all-psychiatry-to-zealand
    service: psychiatric-treatment
    priority: 20
    assign:
      - {to: region-1085, role: decides, target_days: 30, limit_days: 30, day_kind: calendar}
"""
    )
    assert check_rule_set(rule_set, registry, BEFORE).ok
    report = check_rule_set(rule_set, registry, AFTER)
    (invalid,) = report.invalid_targets
    assert (invalid.rule_id, invalid.target, invalid.municipality_count) == (
        "all-psychiatry-to-zealand",
        "region-1085",
        98,
    )
    assert len(report.gaps) == 98 and not report.ok


def test_not_in_force_is_noted(default_rules, registry):
    report = check_rule_set(default_rules, registry, date(2025, 1, 1))
    assert not report.in_force
    assert "not in force" in report.to_text()
