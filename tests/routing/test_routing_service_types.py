"""Service types are data: routing takes the catalogue's service types as part of its
snapshot, checks rules against them and words its explanations from them."""

from __future__ import annotations

from datetime import date

import pytest

from routing import default_rules_path
from routing.check import check_rule_set
from routing.engine import compile_rule_set
from routing.facts import RequestFacts
from routing.rules import RuleSetError, parse_rule_set
from routing.service_types import (
    ServiceTypeError,
    load_default_service_types,
    parse_service_types,
    service_types_from,
)

DAY = date(2026, 6, 1)

ESCORT = {"da": "ledsageordning", "en": "an escort scheme", "request": {"da": "ansøgning", "en": "application"}}

RULES = """\
version: "s1"
valid_from: 2026-01-01
rules:
  - id: escort
    service: escort-scheme
    assign:
      - to: residence-municipality
        role: decides
        target_days: 10
        limit_days: 20
        day_kind: working
"""


def test_the_shipped_catalogue_gives_the_service_types():
    services = load_default_service_types()
    assert len(services) == 13
    assert services["disability-aids"].handled_en == "disability aids are handled"
    assert services["appeal"].request_da == "klage"
    assert services["home-care"].request_da == "ansøgning"


def test_a_service_only_the_catalogue_knows_is_routed_and_explained(registry):
    services = service_types_from([("escort-scheme", ESCORT)])
    rule_set = parse_rule_set(RULES, "escort.yaml", registry, services)
    decision = compile_rule_set(rule_set, registry).route(RequestFacts("escort-scheme", "751", DAY, {}))
    assert decision.assignments[0].authority_name_da == "Aarhus Kommune"
    assert decision.explanation.citizen_text("da") == (
        "Din ansøgning går til Aarhus Kommune, fordi ledsageordning hører under den kommune, du bor i."
    )
    assert decision.explanation.citizen_text("en").startswith(
        "Your application goes to Aarhus Kommune because an escort scheme is handled by"
    )


def test_a_rule_for_a_service_the_catalogue_lacks_is_refused(registry):
    with pytest.raises(RuleSetError, match="unknown service type 'escort-scheme'"):
        parse_rule_set(RULES, "escort.yaml", registry)  # the shipped catalogue has no such service


def test_the_check_covers_every_catalogue_service_and_names_the_gap(registry):
    services = dict(load_default_service_types())
    services["escort-scheme"] = service_types_from([("escort-scheme", ESCORT)])["escort-scheme"]
    text = default_rules_path().read_text(encoding="utf-8")
    report = check_rule_set(parse_rule_set(text, "default.yaml", registry, services), registry, DAY)
    assert report.pairs_checked == 14 * 98
    assert {g.service_type for g in report.gaps} == {"escort-scheme"}
    assert len(report.gaps) == 98


@pytest.mark.parametrize(
    "doc, message",
    [
        ({}, "needs a 'services' list"),
        ({"services": [{"slug": "x"}]}, "'explain' needs 'da' and 'en'"),
        ({"services": [{"slug": "x", "explain": {"da": "x"}}]}, "'explain' needs 'da' and 'en'"),
        ({"services": [{"slug": "", "explain": ESCORT}]}, "non-empty string"),
        ({"services": [{"slug": "x", "explain": {**ESCORT, "plural_en": "yes"}}]}, "true or false"),
    ],
)
def test_a_catalogue_without_the_words_routing_needs_is_refused(doc, message):
    with pytest.raises(ServiceTypeError, match=message):
        parse_service_types(doc, "c.yaml")
