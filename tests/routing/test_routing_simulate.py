"""Replaying past requests through a draft reports what would move, where and why."""

from __future__ import annotations

from datetime import date

from routing import default_rules_path
from routing.engine import compile_rule_set
from routing.facts import RequestFacts
from routing.rules import parse_rule_set
from routing.simulate import simulate

DAY = date(2027, 2, 1)


def test_simulation_counts_moves(engine, registry):
    past = []
    for code in ("101", "461", "751"):
        for service in ("disability-aids", "home-care", "tax-question"):
            facts = RequestFacts(service, code, DAY, {"age": 70})
            past.append((facts, engine.route(facts).to_dict()))
    past.append((RequestFacts("home-care", "999", DAY, {}), {"assignments": []}))
    draft_text = (
        default_rules_path()
        .read_text(encoding="utf-8")
        .replace("version: 1 ", 'version: "2-draft" ')
        + """
  - id: aids-in-aarhus-go-to-region
    service: disability-aids
    priority: 20
    municipalities: ["751"]
    assign:
      - {to: residence-region, role: decides, target_days: 10, limit_days: 20}
"""
    )
    draft = compile_rule_set(parse_rule_set(draft_text, "draft.yaml"), registry)
    report = simulate(past, draft)
    assert (report.total, report.unchanged, report.changed, report.no_route) == (10, 8, 1, 1)
    (move,) = report.moves
    assert move.old_targets == ("municipality-751 (decides)",)
    assert move.new_targets == ("region-1082 (decides)",)
    assert move.rule_id == "aids-in-aarhus-go-to-region"
    assert "in municipalities 751" in move.reason_en == move.reason("en")
    assert move.reason("da").startswith(("betingelsen", "gælder alle")) and "751" in move.reason("da")
    assert report.draft_version == "2-draft"
    assert "1 would go elsewhere" in report.to_text()
