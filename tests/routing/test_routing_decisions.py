"""The default rule set's decision for every request type, in municipalities of every
region, on both sides of the 2027-01-01 region reform."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest

from routing.decision import DecisionLayout, RoutingDecision
from routing.engine import NoRoute, UnknownMunicipality, UnknownServiceType, compile_rule_set
from routing.facts import RequestFacts
from routing.service_types import load_default_service_types

BEFORE, AFTER = date(2026, 12, 31), date(2027, 1, 1)

# code -> (region on 2026-12-31, region on 2027-01-01)
MUNICIPALITIES = {
    "101": ("region-1084", "region-ostdanmark"),  # København, Region Hovedstaden
    "400": ("region-1084", "region-ostdanmark"),  # Bornholm
    "265": ("region-1085", "region-ostdanmark"),  # Roskilde, Region Sjælland
    "360": ("region-1085", "region-ostdanmark"),  # Lolland
    "461": ("region-1083", "region-1083"),  # Odense, Region Syddanmark
    "621": ("region-1083", "region-1083"),  # Kolding
    "751": ("region-1082", "region-1082"),  # Aarhus, Region Midtjylland
    "657": ("region-1082", "region-1082"),  # Herning
    "851": ("region-1081", "region-1081"),  # Aalborg, Region Nordjylland
    "825": ("region-1081", "region-1081"),  # Læsø
}

MUNI = "residence-municipality"
REGION = "residence-region"
UDK, SKAT = "state-udbetaling-danmark", "state-skattestyrelsen"

# service type, attributes -> expected [(target, role, target days, limit days, day kind)]
EXPECTED = [
    ("housing-benefit", {}, [(UDK, "decides", 20, 35, "working")]),
    ("deposit-loan", {}, [(MUNI, "decides", 10, 20, "working")]),
    ("cash-benefit", {}, [(MUNI, "decides", 14, 20, "working")]),
    ("home-care", {"age": 82}, [(MUNI, "decides", 10, 20, "working")]),
    (
        "hospital-discharge",
        {},
        [(REGION, "decides", 2, 7, "calendar"), (MUNI, "contributes", 7, 7, "calendar")],
    ),
    ("child-benefit", {}, [(UDK, "decides", 20, 35, "working")]),
    ("child-benefit", {"lived_abroad": False}, [(UDK, "decides", 20, 35, "working")]),
    (
        "child-benefit",
        {"lived_abroad": True},
        [(UDK, "decides", 20, 35, "working"), (SKAT, "contributes", 10, 20, "working")],
    ),
    ("disability-aids", {}, [(MUNI, "decides", 20, 40, "working")]),
    ("psychiatric-treatment", {"age": 16}, [(REGION, "decides", 30, 30, "calendar")]),
    ("social-psychiatric-support", {}, [(MUNI, "decides", 20, 40, "working")]),
    ("tax-question", {}, [(SKAT, "decides", 10, 20, "working")]),
    ("family-law", {}, [("state-familieretshuset", "decides", 30, 60, "working")]),
    ("job-seeking", {"insured": True}, [(MUNI, "decides", 5, 10, "working")]),
    ("job-seeking", {"insured": False}, [(MUNI, "decides", 5, 10, "working")]),
    ("appeal", {}, [("state-ankestyrelsen", "decides", 65, 130, "working")]),
]


def test_the_table_covers_every_service_type():
    assert {service for service, _, _ in EXPECTED} == set(load_default_service_types())


@pytest.mark.parametrize("day", [BEFORE, AFTER], ids=str)
@pytest.mark.parametrize("code", sorted(MUNICIPALITIES))
@pytest.mark.parametrize(
    ("service", "attributes", "expected"),
    EXPECTED,
    ids=[f"{s}-{'-'.join(f'{k}={v}' for k, v in a.items()) or 'plain'}" for s, a, _ in EXPECTED],
)
def test_default_decision(engine, service, attributes, expected, code, day):
    decision = engine.route(RequestFacts(service, code, day, attributes))
    region = MUNICIPALITIES[code][0 if day < AFTER else 1]
    resolve = {MUNI: f"municipality-{code}", REGION: region}
    assert [
        (a.authority_id, a.role, a.target_days, a.limit_days, a.day_kind)
        for a in decision.assignments
    ] == [(resolve.get(t, t), role, td, ld, kind) for t, role, td, ld, kind in expected]
    assert decision.rule_set_version == "1"
    assert decision.filed_on == day
    assert all(a.target_days <= a.limit_days for a in decision.assignments)


@pytest.mark.parametrize(
    ("day", "region_id", "region_name"),
    [
        (date(2026, 12, 31), "region-1084", "Region Hovedstaden"),
        (date(2027, 1, 1), "region-ostdanmark", "Region Østdanmark"),
    ],
)
def test_copenhagen_psychiatry_moves_region_on_the_reform_day(engine, day, region_id, region_name):
    decision = engine.route(RequestFacts("psychiatric-treatment", "101", day, {}))
    assert decision.deciding.authority_id == region_id
    assert region_name in decision.explanation.citizen_text("da")


@pytest.mark.parametrize("code", ["0101", "101", " 101 "])
def test_municipality_codes_are_normalised(engine, code):
    decision = engine.route(RequestFacts("home-care", code, BEFORE, {}))
    assert decision.deciding.authority_id == "municipality-101"


@pytest.mark.parametrize("code", ["411", "999", "abc", ""])
def test_unknown_municipality_is_refused(engine, code):
    with pytest.raises(UnknownMunicipality):
        engine.route(RequestFacts("home-care", code, BEFORE, {}))


def test_unknown_service_type_is_no_route(engine):
    with pytest.raises(UnknownServiceType):
        engine.route(RequestFacts("fishing-licence", "101", BEFORE, {}))


def test_filing_date_before_the_rule_set_is_no_route(engine):
    with pytest.raises(NoRoute, match="not in force"):
        engine.route(RequestFacts("home-care", "101", date(2025, 6, 1), {}))


def test_snapshot_compiled_set_refuses_days_of_another_registry_period(default_rules, registry):
    compiled = compile_rule_set(default_rules, registry.on(BEFORE))
    assert compiled.route(RequestFacts("home-care", "101", date(2026, 3, 1), {}))
    with pytest.raises(NoRoute, match="another period"):
        compiled.route(RequestFacts("home-care", "101", AFTER, {}))


@pytest.mark.parametrize("service", sorted(load_default_service_types()))
def test_decision_round_trips_through_json(engine, service):
    decision = engine.route(RequestFacts(service, "461", AFTER, {"age": 40, "lived_abroad": True}))
    again = RoutingDecision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert again == decision
    assert again.explanation.citizen_text("en") == decision.explanation.citizen_text("en")


@pytest.mark.parametrize("service", ["home-care", "job-seeking"])  # direct and conditional paths
def test_engine_decisions_are_ordinary_frozen_decisions(engine, service):
    decision = engine.route(RequestFacts(service, "101", AFTER, {"insured": True}))
    assert type(decision) is RoutingDecision
    assert RoutingDecision.__slots__ == DecisionLayout.__slots__
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.facts = None
    built = RoutingDecision(
        decision.rule_set_version, AFTER, decision.facts, decision.assignments, decision.explanation
    )
    assert built == decision
