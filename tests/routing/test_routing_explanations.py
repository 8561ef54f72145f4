"""Explanations for citizens in plain Danish and English, and in full for staff."""

from __future__ import annotations

from datetime import date

import pytest

from routing.facts import RequestFacts

DAY = date(2027, 3, 1)


@pytest.mark.parametrize(
    ("service", "code", "attributes", "locale", "text"),
    [
        (
            "home-care",
            "461",
            {},
            "da",
            "Din ansøgning går til Odense Kommune, fordi hjemmehjælp hører under den kommune, "
            "du bor i.",
        ),
        (
            "home-care",
            "461",
            {},
            "en",
            "Your request goes to Odense Kommune because home care is handled by the "
            "municipality you live in.",
        ),
        (
            "psychiatric-treatment",
            "751",
            {},
            "da",
            "Din ansøgning går til Region Midtjylland, fordi psykiatrisk behandling hører under "
            "den region, din kommune hører til.",
        ),
        (
            "psychiatric-treatment",
            "751",
            {},
            "en",
            "Your request goes to Region Midtjylland because psychiatric treatment is handled "
            "by the region your municipality belongs to.",
        ),
        (
            "housing-benefit",
            "851",
            {},
            "da",
            "Din ansøgning går til Udbetaling Danmark, fordi boligstøtte hører under "
            "Udbetaling Danmark.",
        ),
        (
            "tax-question",
            "101",
            {},
            "en",
            "Your request goes to Skattestyrelsen because tax questions are handled by "
            "Skattestyrelsen.",
        ),
        (
            "appeal",
            "101",
            {},
            "da",
            "Din klage går til Ankestyrelsen, fordi klager over afgørelser hører under "
            "Ankestyrelsen.",
        ),
    ],
)
def test_citizen_text(engine, service, code, attributes, locale, text):
    decision = engine.route(RequestFacts(service, code, DAY, attributes))
    assert decision.explanation.citizen_text(locale) == text


def test_two_authorities_are_both_named_with_their_tasks(engine):
    decision = engine.route(RequestFacts("hospital-discharge", "101", DAY, {}))
    da = decision.explanation.citizen_text("da")
    en = decision.explanation.citizen_text("en")
    assert da.startswith("Din ansøgning går til Region Østdanmark og Københavns Kommune, fordi")
    assert "Region Østdanmark laver din genoptræningsplan." in da
    assert en.startswith("Your request goes to Region Østdanmark and Københavns Kommune because")
    assert "Københavns Kommune provides retraining and home care." in en


def test_staff_text_lists_matched_and_passed_over_rules_with_why(engine):
    decision = engine.route(RequestFacts("child-benefit", "265", DAY, {"lived_abroad": False}))
    explanation = decision.explanation
    assert [n.rule_id for n in explanation.matched] == ["child-benefit"]
    assert [(n.rule_id, n.outcome) for n in explanation.passed_over] == [
        ("child-benefit-abroad", "condition-not-met")
    ]
    en = decision.staff_text("en")
    assert "child-benefit-abroad (priority 20), Condition not met" in en
    assert "Payments Denmark (Udbetaling Danmark) decides: target 20, limit 35 working days" in en
    da = decision.staff_text("da")
    assert "betingelsen «abroad» er ikke opfyldt" in da
    assert "Fravalgte regler:" in da


def test_lower_priority_rules_are_passed_over_with_why(engine):
    decision = engine.route(RequestFacts("job-seeking", "265", DAY, {"insured": True}))
    assert decision.explanation.matched[0].rule_id == "job-seeking-insured"
    (note,) = decision.explanation.passed_over
    assert (note.rule_id, note.outcome) == ("job-seeking", "lower-priority")
    assert "higher priority" in note.why_en
