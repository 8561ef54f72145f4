"""The portal's routing service: rule set in force, decisions stored with their version."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, RequestStatus, Role, RoutingRecord
from portal.models import RuleSet as RuleSetRow
from portal.services import routing as routing_service
from portal.services import rule_sets
from tests.factories import make_citizen, make_request, make_staff

EXTRA_RULE = """
  - id: aids-aarhus-region
    service: disability-aids
    priority: 20
    municipalities: ["751"]
    assign:
      - {to: residence-region, role: decides, target_days: 10, limit_days: 20}
"""


@pytest.fixture
def admin(session):
    return make_staff(session, role=Role.ADMINISTRATOR)


def _publish(session, admin, extra=EXTRA_RULE, valid_from="2026-01-01"):
    text = rule_sets.new_draft_text(session).replace(
        "valid_from: 2026-01-01", f"valid_from: {valid_from}"
    )
    row = rule_sets.create_draft(session, actor=admin, text=text + extra)
    return rule_sets.publish(session, row, actor=admin)


def test_default_rule_set_applies_while_nothing_is_published(session):
    loaded = routing_service.rule_set_in_force(session, date(2027, 1, 1))
    assert (loaded.origin, loaded.version) == ("default", 1)


def test_the_shipped_default_is_parsed_once_and_again_when_its_file_changes(tmp_path, monkeypatch):
    import routing

    source = routing.default_rules_path().read_text(encoding="utf-8")
    copy = tmp_path / "default.yaml"
    copy.write_text(source, encoding="utf-8")
    monkeypatch.setattr(routing_service, "default_rules_path", lambda: copy)
    first = routing_service.default_rule_set()
    assert routing_service.default_rule_set() is first
    copy.write_text(source.replace("version: 1", "version: 7", 1), encoding="utf-8")
    assert routing_service.default_rule_set().version == 7


def test_route_request_stores_decision_with_version_and_audits(session):
    citizen = make_citizen(session, municipality_code="101")
    request = make_request(
        session, citizen, service_type_slug="psychiatric-treatment", filed_on=date(2027, 1, 1)
    )
    record = routing_service.route_request(session, request.id)
    assert record.rule_set_version == 1
    decision = routing_service.stored_decision(record)
    assert decision.deciding.authority_id == "region-ostdanmark"
    assert decision.rule_set_version == "1"
    assert "Region Østdanmark" in decision.explanation.citizen_text("da")
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "routing.decided")).one()
    assert entry.request_id == request.id and entry.subject_id == citizen.id
    assert entry.details["assignments"] == [["region-ostdanmark", "decides"]]


def test_routing_twice_keeps_one_record(session):
    citizen = make_citizen(session)
    request = make_request(session, citizen, filed_on=date(2026, 12, 31))
    first = routing_service.route_request(session, request.id)
    second = routing_service.route_request(session, request.id)
    assert first.id == second.id
    count = session.scalars(
        select(RoutingRecord).where(RoutingRecord.request_id == request.id)
    ).all()
    assert len(count) == 1


def test_unknown_municipality_makes_the_request_unroutable(session):
    citizen = make_citizen(session, municipality_code="999")
    request = make_request(session, citizen, filed_on=date(2026, 12, 31))
    assert routing_service.route_request(session, request.id) is None
    assert request.status is RequestStatus.UNROUTABLE
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "routing.no_route")).one()
    assert "UnknownMunicipality" in entry.details["error"]


def test_age_and_answers_reach_the_rules(session):
    citizen = make_citizen(session, birth_date=date(1990, 5, 1))
    request = make_request(
        session,
        citizen,
        service_type_slug="child-benefit",
        answers={"lived_abroad": True, "free_text": {"nested": 1}},
        filed_on=date(2027, 2, 1),
    )
    facts = routing_service.facts_for(request)
    assert facts.attributes == {"lived_abroad": True, "age": 36}
    record = routing_service.route_request(session, request.id)
    assert [a["authority_id"] for a in record.decision["assignments"]] == [
        "state-udbetaling-danmark",
        "state-skattestyrelsen",
    ]


def test_published_rule_set_routes_and_its_version_is_recorded(session, admin):
    row = _publish(session, admin)
    assert row.version == 2
    citizen = make_citizen(session, municipality_code="751")
    request = make_request(
        session, citizen, service_type_slug="disability-aids", filed_on=date(2026, 12, 1)
    )
    record = routing_service.route_request(session, request.id)
    assert record.rule_set_version == 2
    assert record.decision["assignments"][0]["authority_id"] == "region-1082"


def test_published_rule_set_applies_only_from_its_first_day(session, admin):
    _publish(session, admin, valid_from="2027-06-01")
    assert routing_service.rule_set_in_force(session, date(2027, 5, 31)).origin == "default"
    assert routing_service.rule_set_in_force(session, date(2027, 6, 1)).version == 2


def test_publishing_supersedes_the_previous_version(session, admin):
    first = _publish(session, admin)
    second = _publish(session, admin, extra="")
    session.refresh(first)
    assert (first.status.value, second.status.value) == ("superseded", "published")
    assert routing_service.rule_set_in_force(session, date(2027, 1, 1)).version == second.version


def test_published_rule_set_cannot_be_edited(session, admin):
    row = _publish(session, admin)
    with pytest.raises(rule_sets.RuleSetLocked):
        rule_sets.update_draft(session, row, actor=admin, text=row.source + "\n# changed\n")
    with pytest.raises(rule_sets.RuleSetLocked):
        rule_sets.publish(session, row, actor=admin)


def test_bad_draft_is_refused_and_nothing_stored(session, admin):
    text = rule_sets.new_draft_text(session).replace(
        "state-skattestyrelsen\n", "state-nowhere\n", 1
    )
    with pytest.raises(rule_sets.RuleSetInvalid) as caught:
        rule_sets.create_draft(session, actor=admin, text=text)
    assert any("unknown authority 'state-nowhere'" in m for _, _, m in caught.value.problems)
    session.rollback()
    assert session.scalars(select(RuleSetRow)).all() == []


def test_draft_must_carry_its_own_version(session, admin):
    text = rule_sets.with_version(rule_sets.new_draft_text(session), 7)
    with pytest.raises(rule_sets.RuleSetInvalid, match="this draft is version 2"):
        rule_sets.create_draft(session, actor=admin, text=text)


def test_publish_refuses_gaps_on_the_reform_day_and_audits_the_refusal(session, admin):
    # Psychiatry pinned to Region Sjælland, which ends on 2027-01-01: a gap from then.
    text = (
        rule_sets.new_draft_text(session)
        + """
  - id: psychiatry-zealand
    service: psychiatric-treatment
    priority: 20
    assign:
      - {to: region-1085, role: decides, target_days: 30, limit_days: 30, day_kind: calendar}
"""
    )
    row = rule_sets.create_draft(session, actor=admin, text=text)
    with pytest.raises(rule_sets.PublishRefused) as caught:
        rule_sets.publish(session, row, actor=admin)
    bad = [r for r in caught.value.reports if not r.ok]
    assert [r.day for r in bad] == [date(2027, 1, 1)]
    session.refresh(row)
    assert row.status.value == "draft"
    denied = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "rule_set.publish")
    ).one()
    assert denied.outcome.value == "deny"


def test_simulation_replays_stored_requests(session, admin):
    citizen = make_citizen(session, municipality_code="751")
    for slug in ("disability-aids", "home-care"):
        request = make_request(session, citizen, service_type_slug=slug, filed_on=date(2026, 12, 1))
        routing_service.route_request(session, request.id)
    row = rule_sets.create_draft(
        session, actor=admin, text=rule_sets.new_draft_text(session) + EXTRA_RULE
    )
    simulation = rule_sets.simulate_rule_set(session, row, date(2026, 11, 1))
    report = simulation.report
    assert (report.total, report.changed, report.unchanged) == (2, 1, 1)
    assert report.moves[0].new_targets == ("region-1082 (decides)",)
    assert rule_sets.simulate_rule_set(session, row, date(2026, 12, 2)).report.total == 0
