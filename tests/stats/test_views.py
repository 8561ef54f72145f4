"""The statistics pages: access, filters, htmx, drill-down scope, CSV, targets,
the public results page and /metrics."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Role, Target
from portal.services import stats
from tests import factories
from tests.conftest import csrf_token, make_config
from tests.stats import history as h
from tests.stats.test_stats_service import insert_history


@pytest.fixture
def app_config(_shared_database_url, redis_url, tmp_path):
    return make_config(_shared_database_url, redis_url, tmp_path, STATS_MIN_COUNT=2)


@pytest.fixture
def history(session):
    rows = insert_history(session)
    stats.refresh(session, as_of=h.AS_OF)
    return rows


@pytest.fixture
def login(login, session):
    """Log in, and forget the user cached on ``g``: with the ``session`` fixture's app
    context pushed, every request of the test shares that context's ``g``."""
    from flask import g

    def _login(user):
        g.pop("current_user", None)
        return login(user)

    return _login


@pytest.fixture
def coordinator(session):
    return factories.make_staff(session, authority_id=h.M461, role=Role.COORDINATOR, name="Koordinator Odense")


def test_statistics_are_for_coordinators_and_administrators_only(client, session, login):
    assert client.get("/stats/").status_code == 302  # to the login page
    from flask import g

    g.pop("current_user", None)
    for role in (Role.CITIZEN, Role.CASEWORKER, Role.TEAM_LEAD):
        user = factories.make_citizen(session) if role is Role.CITIZEN else factories.make_staff(session, role=role)
        login(user)
        for path in ("/stats/", "/stats/benchmark", "/stats/targets", "/stats/cases", "/stats/export/periods.csv"):
            assert client.get(path).status_code == 403, (role, path)
    login(factories.make_staff(session, role=Role.ADMINISTRATOR))
    assert client.get("/stats/").status_code == 200


def test_dashboard_shows_figures_charts_and_tables(client, login, coordinator, history):
    login(coordinator)
    response = client.get("/stats/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert "<svg" in html and 'class="chart-bar"' in html
    assert "/stats/cases?period=2026-11-01" in html  # a bar links to its cases
    assert "6 cases match the filters." in html or "6 sager" in html
    # The stuck case D (at the coordinator's authority) is listed.
    assert history[4].reference in html


def test_htmx_gets_only_the_results(client, login, coordinator, history):
    login(coordinator)
    response = client.get("/stats/?region=region-1084", headers={"HX-Request": "true", "HX-Target": "stats-results"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="results-heading"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_filter_errors_are_shown_with_an_error_title(client, login, coordinator, history):
    login(coordinator)
    html = client.get("/stats/?from=yesterday&region=municipality-461").get_data(as_text=True)
    assert re.search(r"<title>(Fejl|Error):", html)
    assert 'class="error-summary"' in html and 'href="#f-from"' in html and 'href="#f-region"' in html


def test_drill_down_lists_only_own_authoritys_cases_and_is_audited(client, session, login, coordinator, history):
    login(coordinator)
    html = client.get("/stats/cases?period=2026-11-01").get_data(as_text=True)
    assert history[4].reference in html and history[2].reference in html
    assert history[1].reference not in html  # at Udbetaling Danmark
    assert history[6].reference not in html  # at the region
    assert html.index(history[4].reference) < html.index(history[2].reference)  # stuck first
    # Tampered filters do not widen the scope.
    html = client.get(f"/stats/cases?authority={h.UDK}").get_data(as_text=True)
    assert history[1].reference not in html
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == coordinator.id)).all()
    assert actions.count("stats.drill_down") == 2


@pytest.mark.parametrize("table", ["periods", "regions", "services", "distribution", "handovers", "rules", "backlog", "stuck"])
def test_every_table_exports_as_csv(client, session, login, coordinator, history, table):
    login(coordinator)
    response = client.get(f"/stats/export/{table}.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.get_data(as_text=True).strip().splitlines()
    assert len(lines) >= 2
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "stats.export")) is not None


def test_benchmark_ranks_and_withholds_small_counts(client, login, coordinator, history):
    login(coordinator)
    html = client.get("/stats/benchmark?measure=to_acceptance").get_data(as_text=True)
    assert "Odense" in html
    assert html.count("Fewer than 2 cases") + html.count("Færre end 2 sager") == 97
    csv_text = client.get("/stats/benchmark?measure=to_acceptance&format=csv").get_data(as_text=True)
    assert "1,Odense Kommune,3,1,2" in csv_text and ",Aalborg Kommune,,," in csv_text


def test_coordinator_sets_and_retires_a_target(client, session, login, coordinator, history):
    login(coordinator)
    token = csrf_token(client, "/stats/targets")
    bad = client.post("/stats/targets", data={"csrf_token": token, "measure": "handover_within",
                                              "threshold_percent": "200", "within_days": "12", "due_on": "soon"})
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert 'href="#f-threshold_percent"' in html and 'href="#f-within_days"' in html and 'href="#f-due_on"' in html
    other = client.post("/stats/targets", data={"csrf_token": token, "measure": "decided_within_target",
                                                "threshold_percent": "90", "due_on": "2027-06-30",
                                                "authority_id": h.M101})
    assert other.status_code == 400 and 'href="#f-authority_id"' in other.get_data(as_text=True)
    ok = client.post("/stats/targets", data={"csrf_token": token, "measure": "decided_within_target",
                                             "threshold_percent": "40", "due_on": "2027-06-30", "published": "1"})
    assert ok.status_code == 303
    target = session.scalar(select(Target))
    assert (target.authority_id, target.threshold_percent, target.created_by_id) == (h.M461, 40, coordinator.id)
    page = client.get("/stats/").get_data(as_text=True)
    assert "50 %" in page and ("On track" in page or "På rette spor" in page)  # B met, C missed
    assert client.post("/stats/targets", data={"measure": "handover_within"}).status_code == 400  # no CSRF token
    assert client.post(f"/stats/targets/{target.id}/retire", data={"csrf_token": token}).status_code == 303
    assert session.get(Target, target.id).retired_at is not None


def test_public_results_need_no_login_and_hide_small_counts(client, session, coordinator, history):
    stats.create_target(session, coordinator, measure="decided_within_target", threshold_percent=90, within_days=None,
                        due_on=__import__("datetime").date(2027, 6, 30), authority_id=h.M461, service_type=None)
    for path in ("/results", "/resultater"):
        response = client.get(path)
        assert response.status_code == 200
    html = client.get("/results?authority=" + h.M461).get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", html, re.S)
    # Services are shown by their catalogue name in the visitor's language (Danish here).
    # Results rows start with the authority (the satisfaction table above has its own).
    results = [r for r in rows if r.startswith("Odense Kommune")]
    home = next(r for r in results if "Hjemmehjælp" in r)
    cash = next(r for r in results if "Kontanthjælp" in r)
    assert ">2<" in home and "50 %" in home
    # One case of cash benefit: no count, no figure, only the notice.
    assert re.search(r">\s*1\s*<", cash) is None and ("Fewer than 2" in cash or "Færre end 2" in cash)
    # No personal data: no case references, no names.
    for case in history.values():
        assert case.reference not in html
    assert coordinator.name not in html


def test_public_results_show_the_citizens_answers_in_the_page_not_its_title(client, history):
    html = client.get("/results", headers={"Accept-Language": "en"}).get_data(as_text=True)
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "<table" not in title and len(title) < 100, title
    main = html[html.index("<main"):html.index("</main>")]
    assert 'id="instant-heading"' in main and 'id="satisfaction-heading"' in main


def test_public_results_show_no_figure_below_the_minimum_count(client, app, session, history):
    app.config["STATS_MIN_COUNT"] = 10
    html = client.get("/results").get_data(as_text=True)
    cells = re.findall(r'<td class="num"[^>]*>(.*?)</td>', html, re.S)
    assert cells and all(not re.search(r"\d", c) or "10" in c for c in cells), cells


def test_metrics_for_loopback_or_token_only(client, app, session):
    response = client.get("/metrics")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'indgang_queue_depth{queue="default"}' in text
    assert 'indgang_jobs_failed{queue="default"}' in text
    assert "indgang_outbox_lag_seconds" in text
    client.get("/results")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'indgang_http_request_duration_seconds_count{method="GET",endpoint="results.results",status="2xx"} 1' in text
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404
    # A proxy on this host passing on an outside request is not a local scraper.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    app.config["METRICS_TOKEN"] = "s3cret"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


@pytest.mark.parametrize("path", ["/stats/handovers", "/stats/rules"])
def test_handover_and_rule_pages(client, login, coordinator, history, path):
    login(coordinator)
    html = client.get(path).get_data(as_text=True)
    assert "<table>" in html and ("Odense" in html or "home-care" in html)
    partial = client.get(path + "?region=region-1083", headers={"HX-Request": "true", "HX-Target": "table-results"})
    assert "<html" not in partial.get_data(as_text=True) and "HX-Request" in partial.headers["Vary"]


def test_benchmark_filters_answer_htmx_with_the_table_only(client, login, coordinator, history):
    login(coordinator)
    response = client.get("/stats/benchmark?measure=target_share&region=region-1083",
                          headers={"HX-Request": "true", "HX-Target": "benchmark-results"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="benchmark-heading"' in html
    assert "HX-Request" in response.headers["Vary"]
    assert "Aalborg" not in html  # Region Nordjylland is filtered out
    assert "Odense" in html


def test_the_update_time_is_danish_local_time(client, login, coordinator, history):
    """Refreshed at 09:00 UTC on 12 November: 10:00 in Copenhagen (CET, UTC+1)."""
    html = client.get("/results", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "Senest opdateret 12.11.2026 10.00." in html and "UTC" not in html
    login(coordinator)
    html = client.get("/stats/", headers={"Accept-Language": "da"}).get_data(as_text=True)
    assert "Opdateret 12.11.2026 10.00." in html and "09:00" not in html


def test_the_cases_behind_a_figure_show_statuses_as_words_and_danish_dates(client, login, coordinator, history):
    login(coordinator)
    html = client.get("/stats/cases?period=2026-11-01", headers={"Accept-Language": "da"}).get_data(as_text=True)
    cells = re.findall(r"<td>(.*?)</td>", html[html.index("<tbody>"):html.index("</tbody>")])
    assert {"pending", "accepted", "in_progress", "awaiting_citizen", "decided", "closed"}.isdisjoint(cells)
    assert {"Afventer", "Modtaget", "Under behandling", "Afventer borgeren", "Afgjort", "Lukket"} & set(cells)
    assert not any(re.fullmatch(r"\d{4}-\d\d-\d\d", cell) for cell in cells)
    assert any(re.fullmatch(r"\d{1,2}\. nov\. 2026", cell) for cell in cells)
