"""The plan guard: every query behind the dashboard pages, the benchmarking table and
the public results page reads the statistics' aggregates, never the per-case or
per-event tables, whose size grows with the years of history.

Timing-free: the SQL each page runs is captured and given to the database's own
planner (``EXPLAIN (FORMAT JSON)`` on PostgreSQL, ``EXPLAIN QUERY PLAN`` on SQLite),
and the test fails when a plan touches one of ``HISTORY_TABLES``. Runs on both
backends; the PostgreSQL leg of ``.ci/run`` is the one that matters for the indexes.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from portal.models import Role
from tests import factories
from tests.stats import history as h
from tests.stats import test_views

# The statistics pages' fixtures: STATS_MIN_COUNT=2, the hand-made history, login.
app_config, history, login = test_views.app_config, test_views.history, test_views.login

# Tables with a row per case, request, event or handover: reading them makes a page's
# cost grow with the history. The dashboard must read the rollups instead.
HISTORY_TABLES = frozenset({"cases", "case_events", "requests", "handovers", "stats_case_facts"})

PAGES = (
    "/stats/",
    f"/stats/?region={h.REGION}",
    f"/stats/?region={h.M461}&service=home-care",
    "/stats/?grain=week",
    "/stats/benchmark?measure=to_acceptance",
    "/stats/benchmark?measure=target_share",
    "/results",
)


def _relations(plan) -> set[str]:
    """Every table name in a PostgreSQL JSON plan."""
    found = set()
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            found.add(plan["Relation Name"])
        for value in plan.values():
            found |= _relations(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _relations(value)
    return found


def tables_read(connection, statement: str, parameters) -> set[str]:
    """The tables the planner would read for ``statement`` (not executed)."""
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).all()
        return _relations(rows[0][0])
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    found = set()
    for *_, detail in rows:
        match = re.match(r"(?:SCAN|SEARCH)\s+(?:TABLE\s+)?(\w+)", detail)
        if match:
            found.add(match.group(1))
    return found


@pytest.fixture
def captured(_shared_engine):
    """The SELECT statements sent to the database while the test runs."""
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((conn, statement, parameters))

    event.listen(_shared_engine, "before_cursor_execute", capture)
    yield statements
    event.remove(_shared_engine, "before_cursor_execute", capture)


@pytest.mark.parametrize("path", PAGES)
def test_the_statistics_pages_read_only_the_aggregates(client, session, login, history, captured, path):
    admin = factories.make_staff(session, authority_id=h.M461, role=Role.ADMINISTRATOR, name="Admin")
    coordinator = factories.make_staff(session, authority_id=h.M461, role=Role.COORDINATOR, name="Koordinator")
    session.commit()
    for user in (admin, coordinator):
        login(user)
        captured.clear()
        response = client.get(path)
        assert response.status_code == 200, path
        assert captured, "no statements captured"
        readers = {}
        for conn, statement, parameters in list(captured):
            wrong = tables_read(conn, statement, parameters) & HISTORY_TABLES
            if wrong:
                readers[" ".join(statement.split())[:200]] = sorted(wrong)
        assert not readers, f"{path} as {user.role.value} reads history tables: {readers}"


def test_the_guard_sees_a_query_that_reads_the_cases(session, captured):
    """The guard itself: a query on the cases is reported with its table."""
    from sqlalchemy import func, select

    from portal.models import Case, Request

    session.execute(select(Request.service_type_slug, func.count(Case.id)).join(Case, Case.request_id == Request.id)
                    .group_by(Request.service_type_slug)).all()
    conn, statement, parameters = captured[-1]
    assert {"cases", "requests"} <= tables_read(conn, statement, parameters)
