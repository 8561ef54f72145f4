"""The generated demo history, the refresh job and the CLI: SQL and Python agree on
every case of a generated history."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, select

from portal.models import Case, CaseEvent, Handover, OutboxMessage, Request
from portal.models.stats import stats_case_facts
from portal.services import stats
from portal.stats import measures as m
from portal.stats.demo import generate_history

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def load_case_rows(session) -> list[m.CaseRow]:
    events = defaultdict(list)
    for e in session.scalars(select(CaseEvent).order_by(CaseEvent.at, CaseEvent.id)):
        events[e.case_id].append(m.Event(e.kind, e.at, e.authority_id, e.data))
    rows = []
    for c, r in session.execute(select(Case, Request).join(Request, Request.id == Case.request_id)):
        rows.append(m.CaseRow(
            id=c.id, request_id=c.request_id, filed_at=r.filed_at, authority_id=c.authority_id,
            first_authority_id=c.first_authority_id, service_type=r.service_type_slug, rule_id=c.rule_id,
            rule_set_version=c.rule_set_version, status=c.status.value, accepted_at=c.accepted_at,
            decided_at=c.decided_at, target_due=c.target_due, limit_due=c.limit_due, events=tuple(events[c.id]),
        ))
    return rows


def test_generated_history_is_realistic_and_sql_agrees_with_python(session):
    made = generate_history(session, 400, years=1, seed=3, now=NOW)
    assert made["requests"] == 400 and made["cases"] > 400  # discharge help has two cases
    assert made["handovers"] > 0 and made["events"] > 4 * made["cases"]
    stats.refresh(session, as_of=NOW)
    cases = load_case_rows(session)
    assert any(m.rejected_by_first(c) for c in cases)
    assert any(m.is_open(c) for c in cases) and any(m.suspended_days(c) for c in cases)
    facts = {f.case_id: f for f in session.execute(select(stats_case_facts))}
    cal = m.WorkingCalendar.danish()
    by_request = defaultdict(list)
    for c in cases:
        by_request[c.request_id].append(c)
        f = facts[c.id]
        assert f.accepted_wd == m.working_days_to_acceptance(c, cal), c.id
        assert bool(f.rejected_first) == m.rejected_by_first(c), c.id
        assert (f.met_target, f.met_limit) == m.deadlines_met(c), c.id
        assert bool(f.is_open) == m.is_open(c), c.id
    for request_id, group in by_request.items():
        counted = [facts[c.id] for c in group if facts[c.id].counts_request]
        assert len(counted) == 1
        assert counted[0].lost_wd == m.working_days_lost(group, NOW, cal), request_id
    # Twice-handed-over cases exist in a large enough history.
    twice = session.scalar(select(func.count()).select_from(
        select(Handover.case_id).group_by(Handover.case_id).having(func.count() > 1).subquery()))
    assert twice > 0


def test_refresh_job_and_clock_go_through_the_outbox(app, session):
    from portal.stats.jobs import refresh_statistics

    generate_history(session, 50, years=0.5, seed=1, now=NOW)
    assert stats.schedule_refresh(session) is True
    assert stats.schedule_refresh(session) is False  # one is already waiting
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.job == "portal.stats.jobs.refresh_statistics"))
    assert row.queue == "low"
    result = refresh_statistics(outbox_id=row.id)
    assert result["requests"] == 50
    assert refresh_statistics(outbox_id=row.id)["requests"] <= 50  # safe to run twice
    assert session.scalar(select(func.count()).select_from(stats_case_facts)) >= 50


def test_cli_refresh_and_generate(app, runner, session):
    result = runner.invoke(args=["demo", "generate", "--requests", "30", "--years", "0.2", "--no-refresh"])
    assert result.exit_code == 0, result.output
    assert "generated 30 requests" in result.output
    result = runner.invoke(args=["stats", "refresh", "--full"])
    assert result.exit_code == 0, result.output
    assert "statistics refreshed: 30 requests" in result.output


def test_a_big_load_rebuilds_the_indexes_it_dropped(session, monkeypatch):
    from sqlalchemy import inspect

    from portal.stats import demo

    def indexes():
        inspector = inspect(session.connection())
        return {t: sorted(i["name"] for i in inspector.get_indexes(t)) for t in ("requests", "cases", "case_events")}

    before = indexes()
    monkeypatch.setattr(demo, "BIG", 10)
    generate_history(session, 20, years=0.2, seed=2, now=NOW)
    assert indexes() == before
    assert "ix_case_events_case_id" in before["case_events"]
