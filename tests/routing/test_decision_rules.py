"""Decision rules as data, table-driven, no database: outcomes, decisiveness, the
shipped housing-benefit rules, bad files refused with file and line, lead rules."""

from __future__ import annotations

from datetime import date

import pytest

from routing.coordination import Involved, load_lead_rules, parse_lead_rules
from routing.decisions import (
    GRANTED,
    REFUSED,
    UNDECIDED,
    Evaluation,
    fields_read,
    load_decision_library,
    parse_decision_rules,
)
from routing.rules import RuleSetError

HOUSING = load_decision_library().for_service("housing-benefit", date(2026, 6, 1))
ADULT = {"age": 40, "registered_in_denmark": True, "rent": 6000, "adults": 1}


@pytest.mark.parametrize(("changes", "outcome", "not_decisive"), [
    ({}, GRANTED, set()),
    ({"rent": 12000}, GRANTED, set()),
    ({"rent": 12000.5}, UNDECIDED, {"rent-within-limit"}),
    ({"adults": 3}, UNDECIDED, {"household-size"}),
    ({"age": 17}, UNDECIDED, {"of-age"}),
    ({"age": None}, UNDECIDED, {"of-age"}),
    ({"registered_in_denmark": False}, UNDECIDED, {"lives-in-denmark"}),
    ({"rent": None, "adults": None}, UNDECIDED, {"rent-within-limit", "household-size"}),
])
def test_housing_benefit(changes, outcome, not_decisive):
    evaluation = HOUSING.evaluate({**ADULT, **changes})
    assert evaluation.outcome == outcome
    assert {r.rule_id for r in evaluation.results if not r.decisive} == not_decisive
    assert evaluation.rule_set_version == 1 and evaluation.appeal_to == "state-ankestyrelsen"
    assert evaluation.instant == (outcome != UNDECIDED)


def test_a_missing_field_is_unknown_and_named():
    result = HOUSING.evaluate({**ADULT, "age": None}).results[0]
    assert (result.status, result.missing, result.decisive) == ("unknown", ("age",), False)


def test_reasons_are_plain_language_in_both_languages():
    evaluation = HOUSING.evaluate(ADULT)
    assert evaluation.summary("da").startswith("Du har ret til boligstøtte")
    assert evaluation.summary("en").startswith("You are entitled to housing benefit")
    assert all(r.reason("da") and r.reason("en") and r.reason("da") != r.reason("en") for r in evaluation.results)


def test_evaluations_round_trip_through_json():
    evaluation = HOUSING.evaluate({**ADULT, "rent": 20000})
    assert Evaluation.from_dict(evaluation.to_dict()) == evaluation


RULES = """
service: child-benefit
version: 3
valid_from: 2026-01-01
fields: {children: int, abroad: bool}
conditions: {has_children: "children >= 1"}
rules:
  - id: children
    when: "has_children"
    otherwise: refuse
    met: {da: "Du har børn.", en: "You have children."}
    not_met: {da: "Du har ingen børn.", en: "You have no children."}
  - id: home
    when: "not abroad"
    met: {da: "Du bor i Danmark.", en: "You live in Denmark."}
    not_met: {da: "Du har boet i udlandet.", en: "You have lived abroad."}
granted: {da: "Bevilget.", en: "Granted."}
refused: {da: "Afslået.", en: "Refused."}
"""


@pytest.mark.parametrize(("facts", "outcome"), [
    ({"children": 2, "abroad": False}, GRANTED),
    ({"children": 0, "abroad": False}, REFUSED),   # refuse rule not met, the other met: decisive
    ({"children": 0, "abroad": True}, UNDECIDED),  # a refer rule not met: a caseworker decides
    ({"children": 2}, UNDECIDED),                  # unknown
])
def test_refuse_rules_decide_only_when_every_other_rule_is_decisive(facts, outcome):
    assert parse_decision_rules(RULES).evaluate(facts).outcome == outcome


def test_named_conditions_count_their_fields():
    rules = parse_decision_rules(RULES)
    assert fields_read(rules.rules[0].condition, rules.conditions) == {"children"}


@pytest.mark.parametrize(("broken", "message"), [
    (RULES.replace("service: child-benefit", "service: pony"), "rules.yaml:2: unknown service type 'pony'"),
    (RULES.replace("version: 3", "version: three"), "'version' must be a positive integer"),
    (RULES.replace('when: "not abroad"', 'when: "not abroad or color == 1"'), "rule 'home': unknown field 'color'"),
    (RULES.replace('when: "has_children"', 'when: "children >= \'two\'"'), "wrong type"),
    (RULES.replace("otherwise: refuse", "otherwise: maybe"), "'otherwise' must be"),
    (RULES.replace('    met: {da: "Du har børn.", en: "You have children."}\n', ""), "'met' needs a text"),
    (RULES.replace("id: home", "id: children"), "duplicate rule id"),
    (RULES + "extra: 1\n", "unknown field 'extra'"),
    ("rules: [", "not valid YAML"),
])
def test_bad_decision_rules_are_refused_with_file_and_line(broken, message):
    with pytest.raises(RuleSetError) as info:
        parse_decision_rules(broken, "rules.yaml")
    assert message in str(info.value)


def test_unknown_appeal_authority_is_refused():
    with pytest.raises(RuleSetError, match="unknown authority 'state-nowhere'"):
        parse_decision_rules(RULES + "appeal_to: state-nowhere\n", "r.yaml", frozenset({"state-ankestyrelsen"}))


def test_the_newest_valid_version_applies(tmp_path):
    (tmp_path / "a.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(RULES.replace("version: 3", "version: 4").replace(
        "valid_from: 2026-01-01", "valid_from: 2027-01-01"), encoding="utf-8")
    library = load_decision_library(tmp_path)
    assert library.for_service("child-benefit", date(2026, 12, 31)).version == 3
    assert library.for_service("child-benefit", date(2027, 1, 1)).version == 4
    assert library.for_service("housing-benefit", date(2027, 1, 1)) is None
    (tmp_path / "c.yaml").write_text(RULES, encoding="utf-8")
    with pytest.raises(RuleSetError, match="version 3 of 'child-benefit' is also in"):
        load_decision_library(tmp_path)


LEAD = load_lead_rules()
M461 = Involved("municipality-461", "municipality", "461")
M101 = Involved("municipality-101", "municipality", "101")
R1083 = Involved("region-1083", "region", "1083")
UDK = Involved("state-udbetaling-danmark", "state")


@pytest.mark.parametrize(("involved", "code", "lead", "rule"), [
    ([R1083, M461], "461", "municipality-461", "municipality-leads"),
    ([M101, M461, R1083], "461", "municipality-461", "municipality-leads"),
    ([M101, R1083], "461", "municipality-101", "municipality-leads"),
    ([UDK, R1083], "461", "region-1083", "region-leads"),
    ([UDK], "461", "state-udbetaling-danmark", "first-authority"),
])
def test_lead_authority_by_rule(involved, code, lead, rule):
    choice = LEAD.choose(involved, municipality_code=code, reason="several_authorities")
    assert (choice.authority_id, choice.rule_id) == (lead, rule)
    assert choice.because("da") and choice.because("en")


def test_no_authority_no_lead_and_bad_lead_rules_are_refused():
    assert LEAD.choose([], municipality_code="461", reason="citizen_asked") is None
    with pytest.raises(RuleSetError, match="unknown field 'colour'"):
        parse_lead_rules("version: 1\nfields: {has_region: bool}\nrules:\n  - id: a\n    when: colour\n    lead: first\n")
