"""``indgang routing check`` and ``indgang routing simulate``."""

from __future__ import annotations

from datetime import date

from portal.services import routing as routing_service
from routing import default_rules_path
from tests.factories import make_citizen, make_request


def test_check_default_rules_passes(runner):
    result = runner.invoke(args=["routing", "check"])
    assert result.exit_code == 0, result.output
    assert "Rule set in force: version 1 (default)" in result.output
    assert "Gaps: 0" in result.output and "OK" in result.output
    assert "2027-01-01" in result.output  # the region reform day is checked too


def test_check_file_with_a_gap_exits_1(runner, tmp_path):
    text = default_rules_path().read_text(encoding="utf-8")
    start = text.index("  - id: home-care\n")
    end = text.index("  - id:", start + 1)
    path = tmp_path / "gap.yaml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    result = runner.invoke(args=["routing", "check", "--rules", str(path), "--on", "2026-12-31"])
    assert result.exit_code == 1
    assert "Gaps: 98" in result.output
    assert "home-care: no rule applies (98 municipalities" in result.output
    assert "NOT OK" in result.output


def test_check_refuses_a_bad_file_naming_file_line_and_rule(runner, tmp_path):
    text = (
        default_rules_path()
        .read_text(encoding="utf-8")
        .replace("to: state-skattestyrelsen\n", "to: state-nowhere\n", 1)
    )
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(args=["routing", "check", "--rules", str(path)])
    assert result.exit_code == 1
    line = text[: text.index("state-nowhere")].count("\n") + 1
    assert (
        f"{path}:{line}: rule 'child-benefit-abroad': unknown authority 'state-nowhere'"
        in result.output
    )


def test_simulate_replays_stored_requests(runner, session, tmp_path):
    citizen = make_citizen(session, municipality_code="751")
    request = make_request(
        session, citizen, service_type_slug="disability-aids", filed_on=date(2026, 12, 1)
    )
    routing_service.route_request(session, request.id)
    draft = tmp_path / "draft.yaml"
    draft.write_text(
        default_rules_path().read_text(encoding="utf-8")
        + """
  - id: aids-aarhus-region
    service: disability-aids
    priority: 20
    municipalities: ["751"]
    assign:
      - {to: residence-region, role: decides, target_days: 10, limit_days: 20}
""",
        encoding="utf-8",
    )
    result = runner.invoke(
        args=["routing", "simulate", "--rules", str(draft), "--since", "2026-11-01"]
    )
    assert result.exit_code == 0, result.output
    assert "Replayed 1 requests" in result.output
    assert "1 would go elsewhere" in result.output
    assert "municipality-751 (decides) -> region-1082 (decides)" in result.output
