"""The coordinator dashboard (``/stats``), the public results page (``/results``) and
the Prometheus endpoint (``/metrics``).

Coordinators and administrators see every aggregated figure (no personal data);
the cases behind a figure are listed only within ``services.stats.drill_scope``.
Filters are a GET form: it works without JavaScript, and htmx swaps the results in
place (the view answers the partial to htmx, hence ``Vary: HX-Request``).
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.auth import current_user, roles_required
from portal.db import get_session
from portal.extensions import htmx_fragment, vary_on_htmx
from portal.models import Authority, AuthorityKind, Role, ServiceType, Target, TargetMeasure
from portal.services import stats
from portal.services.deadlines import danish_today
from portal.stats import measures as m
from portal.stats.charts import bar_chart
from portal.stats.metrics import bp as metrics_bp

bp = Blueprint("stats", __name__, url_prefix="/stats")
public_bp = Blueprint("results", __name__)
blueprints = (bp, public_bp, metrics_bp)

STAFF = (Role.COORDINATOR, Role.ADMINISTRATOR)
GRAINS = ("month", "week")
MEASURE_LABELS = {
    "to_acceptance": _l("Working days from filing to acceptance (median)"),
    "lost": _l("Working days lost between authorities (median)"),
    "target_share": _l("Decided within the service target"),
    "limit_share": _l("Decided within the legal limit"),
    "misrouting": _l("Rejected by the first authority"),
}
TARGET_LABELS = {
    TargetMeasure.ACCEPTED_WITHIN: _l("Cases accepted within a number of working days of filing"),
    TargetMeasure.HANDOVER_WITHIN: _l("Handovers accepted within a number of working days"),
    TargetMeasure.DECIDED_WITHIN_TARGET: _l("Cases decided within the service target"),
    TargetMeasure.DECIDED_WITHIN_LIMIT: _l("Cases decided within the legal limit"),
    TargetMeasure.MISROUTED_AT_MOST: _l("Cases rejected by the first authority (at most)"),
}


def describe_target(target: Target) -> str:
    """A target in words, e.g. "Handovers accepted within 2 working days: at least 90 %"."""
    if target.measure is TargetMeasure.ACCEPTED_WITHIN:
        what = _("Cases accepted within %(days)s working days of filing", days=target.within_days)
    elif target.measure is TargetMeasure.HANDOVER_WITHIN:
        what = _("Handovers accepted within %(days)s working days", days=target.within_days)
    else:
        what = str(TARGET_LABELS[target.measure])
    level = _number(target.threshold_percent)
    if target.measure.lower_is_better:
        return _("%(what)s: at most %(level)s %%", what=what, level=level)
    return _("%(what)s: at least %(level)s %%", what=what, level=level)


# --- helpers ------------------------------------------------------------------------------------


def _min_count() -> int:
    return int(current_app.config.get("STATS_MIN_COUNT", stats.DEFAULT_MIN_COUNT))


def _locale() -> str:
    return str(get_locale() or "da")


def _parse_date(name: str, errors: dict) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("Enter a date as YYYY-MM-DD, for example 2026-01-31.")
        return None


def _filters() -> tuple[stats.Filters, dict, dict]:
    """Filters from the query string; unknown ids are errors, not silently widened."""
    session = get_session()
    errors: dict[str, str] = {}
    authorities = {a.id: a for a in session.scalars(select(Authority))}
    region = request.args.get("region") or None
    if region and (region not in authorities or authorities[region].kind is not AuthorityKind.REGION):
        errors["region"] = _("Choose a region from the list.")
        region = None
    authority = request.args.get("authority") or None
    if authority and authority not in authorities:
        errors["authority"] = _("Choose an authority from the list.")
        authority = None
    service = request.args.get("service") or None
    date_from = _parse_date("from", errors)
    date_to = _parse_date("to", errors)
    if date_from and date_to and date_from > date_to:
        errors["to"] = _("The end date must be on or after the start date.")
    grain = request.args.get("grain") if request.args.get("grain") in GRAINS else "month"
    values = {"region": region or "", "authority": authority or "", "service": service or "",
              "from": request.args.get("from", ""), "to": request.args.get("to", ""), "grain": grain}
    return stats.Filters(region, authority, service, date_from, date_to, grain), errors, values


def _choices():
    session = get_session()
    locale = _locale()
    authorities = session.scalars(select(Authority)).all()
    regions = sorted((a for a in authorities if a.kind is AuthorityKind.REGION), key=lambda a: a.name(locale))
    order = {AuthorityKind.STATE: 0, AuthorityKind.REGION: 1, AuthorityKind.MUNICIPALITY: 2}
    everyone = sorted(authorities, key=lambda a: (order[a.kind], a.name(locale)))
    return {
        "regions": [(a.id, a.name(locale)) for a in regions],
        "authorities": [(a.id, a.name(locale)) for a in everyone],
        "services": [(slug, service_name(slug)) for slug in stats.service_types(session)],
        "names": {a.id: a.name(locale) for a in authorities},
    }


def service_name(slug: str | None) -> str:
    if not slug:
        return _("All services")
    names = _service_names()
    return names.get(slug, slug)


def _service_names() -> dict[str, str]:
    from flask import g

    if "service_names" not in g:
        locale = _locale()
        g.service_names = {
            s.slug: (s.name_en if locale == "en" else s.name_da) for s in get_session().scalars(select(ServiceType))
        }
    return g.service_names


def _number(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return format_decimal(round(value, digits), format="#,##0" + ("." + "0" * digits if digits else ""))


def _percent(share) -> str:
    return "–" if share is None else f"{_number(100 * share)} %"


def _period_label(day: date, grain: str) -> str:
    if grain == "week":
        year, week, _weekday = day.isocalendar()
        return _("Week %(week)s %(year)s", week=week, year=year)
    return day.strftime("%Y-%m")


def _bucket_label(i: int) -> str:
    if i == 0:
        return "0"
    if i == len(m.BOUNDS):
        return f"> {m.BOUNDS[-1]}"
    low, high = m.BOUNDS[i - 1] + 1, m.BOUNDS[i]
    return str(high) if low == high else f"{low}–{high}"


def _query(**changes) -> dict:
    args = {k: v for k, v in request.args.items() if v}
    args.update({k: v for k, v in changes.items() if v is not None})
    return args


# --- dashboard --------------------------------------------------------------------------------------


@bp.get("/")
@roles_required(*STAFF)
def dashboard():
    filters, errors, values = _filters()
    session = get_session()
    board = stats.dashboard(session, filters, scope=stats.drill_scope(current_user))
    if board.stuck:
        stats.record_view(session, current_user, filters, len(board.stuck))
    targets = stats.target_statuses(session, stats.active_targets(session))
    context = _dashboard_context(board, filters, errors, values)
    context["statuses"] = targets
    template = "stats/_results.html" if htmx_fragment("stats-results") else "stats/dashboard.html"
    return vary_on_htmx(Response(render_template(template, **context)))


def _dashboard_context(board: stats.Dashboard, filters: stats.Filters, errors: dict, values: dict) -> dict:
    periods = [
        (_period_label(day, filters.grain), f.cases,
         url_for("stats.cases", **_query(period=day.isoformat(), grain=filters.grain)),
         _("%(period)s: %(count)s cases", period=_period_label(day, filters.grain), count=f.cases))
        for day, f in board.by_period.items()
    ]
    distribution = [
        (_bucket_label(i), n, url_for("stats.cases", **_query(bucket=str(i), measure="accepted")),
         _("%(days)s working days: %(count)s cases", days=_bucket_label(i), count=n))
        for i, n in enumerate(board.total.accepted_h)
    ]
    return {
        "board": board,
        "filters": filters,
        "errors": errors,
        "error_title": bool(errors),
        "values": values,
        "choices": _choices(),
        "periods_chart": bar_chart("chart-periods", _("Cases filed per period"), periods),
        "distribution_chart": bar_chart("chart-distribution", _("Working days from filing to acceptance"), distribution),
        "bucket_label": _bucket_label,
        "period_label": lambda d: _period_label(d, filters.grain),
        "number": _number,
        "percent": _percent,
        "service_name": service_name,
        "query": _query,
        "target_labels": TARGET_LABELS,
        "describe_target": describe_target,
        "min_count": _min_count(),
    }


@bp.get("/cases")
@roles_required(*STAFF)
def cases():
    """The cases behind a bar (a period and/or a bucket), within the user's scope."""
    filters, errors, values = _filters()
    period = bucket = None
    try:
        if request.args.get("period"):
            period = date.fromisoformat(request.args["period"])
        if request.args.get("bucket"):
            bucket = int(request.args["bucket"])
            if not 0 <= bucket < m.N_BUCKETS:
                raise ValueError
    except ValueError:
        abort(404)
    measure = request.args.get("measure") if request.args.get("measure") in ("accepted", "lost") else "accepted"
    rows = stats.cases_behind(get_session(), filters, current_user, period=period, bucket=bucket, measure=measure)
    if request.args.get("format") == "csv":
        return _csv("cases", ["reference", "status", "authority", "service", "filed_on", "accepted_working_days",
                              "lost_working_days", "target_on", "stuck"],
                    [[r["reference"], r["status"], r["authority_id"], r["service_type"], r["filed_on"],
                      r["accepted_wd"], r["lost_wd"], r["target_on"], bool(r["stuck"])] for r in rows])
    scope = stats.drill_scope(current_user)
    return render_template(
        "stats/cases.html", rows=rows, filters=filters, values=values, period=period, bucket=bucket,
        bucket_label=_bucket_label, period_label=lambda d: _period_label(d, filters.grain),
        scope_name=_choices()["names"].get(scope) if scope else None, service_name=service_name,
        names=_choices()["names"], query=_query,
    )


# --- benchmarking -------------------------------------------------------------------------------------


@bp.get("/benchmark")
@roles_required(*STAFF)
def benchmark():
    filters, errors, values = _filters()
    measure = request.args.get("measure") if request.args.get("measure") in stats.BENCHMARK_MEASURES else "to_acceptance"
    rows = stats.benchmark(get_session(), filters, measure, min_count=_min_count(), locale=_locale())
    share = measure in ("target_share", "limit_share", "misrouting")
    if request.args.get("format") == "csv":
        stats.record_export(get_session(), current_user, "benchmark", filters)
        return _csv("benchmark", ["rank", "authority", "count", "value", "p90"],
                    [[r.rank, r.name, r.count if r.value is not None else "", _csv_value(r.value, share), r.p90] for r in rows])
    values["measure"] = measure
    template = "stats/_benchmark_table.html" if htmx_fragment("benchmark-results") else "stats/benchmark.html"
    return vary_on_htmx(Response(render_template(
        template, rows=rows, measure=measure, share=share, measure_labels=MEASURE_LABELS, values=values,
        errors=errors, error_title=bool(errors), choices=_choices(), number=_number, percent=_percent,
        min_count=_min_count(), query=_query,
    )))


def _csv_value(value, share: bool):
    if value is None:
        return ""
    return round(100 * value, 1) if share else value


# --- targets ----------------------------------------------------------------------------------------------


@bp.route("/targets", methods=["GET", "POST"])
@roles_required(*STAFF)
def targets():
    session = get_session()
    errors: dict[str, str] = {}
    form = {"measure": "", "threshold_percent": "", "within_days": "", "due_on": "", "authority_id": "",
            "service_type": "", "published": "1"}
    if request.method == "POST":
        form.update({k: (request.form.get(k) or "").strip() for k in form})
        form["published"] = "1" if request.form.get("published") else ""
        parsed = _parse_target_form(form, errors)
        if not errors:
            try:
                stats.create_target(session, current_user, **parsed)
            except stats.TargetError as exc:
                errors[exc.field] = _target_error(exc.field)
            else:
                flash(_("The target has been saved."), "success")
                return redirect(url_for("stats.targets"), code=303)
    statuses = stats.target_statuses(session, stats.active_targets(session))
    choices = _choices()
    if current_user.role is Role.COORDINATOR:
        choices["authorities"] = [(i, n) for i, n in choices["authorities"] if i == current_user.authority_id]
        form["authority_id"] = form["authority_id"] or current_user.authority_id or ""
    if request.args.get("format") == "csv":
        return _csv("targets", ["measure", "threshold_percent", "within_days", "authority", "service", "due_on",
                                "current_percent", "count", "on_track"],
                    [[s.target.measure.value, s.target.threshold_percent, s.target.within_days,
                      s.target.authority_id or "", s.target.service_type or "", s.target.due_on,
                      None if s.current is None else round(s.current, 1), s.count, s.on_track] for s in statuses])
    return render_template(
        "stats/targets.html", statuses=statuses, form=form, errors=errors, error_title=bool(errors),
        choices=choices, all_authorities=current_user.role is Role.ADMINISTRATOR, target_labels=TARGET_LABELS, bounds=m.BOUNDS, number=_number,
        service_name=service_name, describe_target=describe_target, manage=True,
    ), 400 if errors else 200


def _parse_target_form(form: dict, errors: dict) -> dict:
    out: dict = {"authority_id": form["authority_id"] or None, "service_type": form["service_type"] or None,
                 "published": bool(form["published"]), "measure": form["measure"]}
    if form["measure"] not in {t.value for t in TargetMeasure}:
        errors["measure"] = _target_error("measure")
    try:
        out["threshold_percent"] = float(form["threshold_percent"].replace(",", "."))
        if not 0 <= out["threshold_percent"] <= 100:
            raise ValueError
    except ValueError:
        errors["threshold_percent"] = _target_error("threshold_percent")
    out["within_days"] = None
    if form["measure"] in (TargetMeasure.ACCEPTED_WITHIN.value, TargetMeasure.HANDOVER_WITHIN.value):
        try:
            out["within_days"] = int(form["within_days"])
            if out["within_days"] not in m.BOUNDS:
                raise ValueError
        except ValueError:
            errors["within_days"] = _target_error("within_days")
    try:
        out["due_on"] = date.fromisoformat(form["due_on"])
    except ValueError:
        errors["due_on"] = _("Enter a date as YYYY-MM-DD, for example 2026-01-31.")
    return out


def _target_error(field: str) -> str:
    return {
        "measure": _("Choose what the target measures."),
        "threshold_percent": _("Enter a percentage from 0 to 100."),
        "within_days": _("Choose a number of working days from the list."),
        "authority_id": _("Choose your own authority: targets for other authorities are set by an administrator."),
    }.get(field, _("Check this field."))


@bp.post("/targets/<id:target_id>/retire")
@roles_required(*STAFF)
def retire_target(target_id: int):
    try:
        stats.retire_target(get_session(), current_user, target_id)
    except LookupError:
        abort(404)
    flash(_("The target has been retired."), "success")
    return redirect(url_for("stats.targets"), code=303)


# --- handovers per pair and misrouting per rule -------------------------------------------------------


@bp.get("/handovers")
@roles_required(*STAFF)
def handovers():
    return _table_page("handovers", "stats/handovers.html", "stats/_handovers_table.html")


@bp.get("/rules")
@roles_required(*STAFF)
def rules():
    return _table_page("rules", "stats/rules.html", "stats/_rules_table.html")


def _table_page(name: str, template: str, partial: str):
    filters, errors, values = _filters()
    session = get_session()
    context = {"filters": filters, "errors": errors, "error_title": bool(errors), "values": values,
               "choices": _choices(), "number": _number, "percent": _percent, "query": _query}
    if name == "handovers":
        pairs = stats.handover_pairs(session, filters)
        total = stats.HandoverFigures()
        for f in pairs.values():
            total.add_values(f.values)
        context.update(pairs=pairs, total=total)
    else:
        context["rules"] = stats.misrouting_by_rule(session, filters)
    chosen = partial if htmx_fragment("table-results") else template
    return vary_on_htmx(Response(render_template(chosen, **context)))


EXPORTS = ("periods", "regions", "services", "distribution", "handovers", "rules", "backlog", "stuck")


# --- CSV export of the dashboard's tables ----------------------------------------------------------------


@bp.get("/export/<table>.csv")
@roles_required(*STAFF)
def export(table: str):
    filters, _errors, _values = _filters()
    session = get_session()
    if table not in EXPORTS:
        abort(404)
    board = stats.dashboard(session, filters, scope=stats.drill_scope(current_user))
    names = _choices()["names"]

    def summary_cols(f: stats.Figures):
        a, lost = f.to_acceptance, f.lost
        return [f.cases, a.count, a.median, a.p90, lost.count, lost.median, lost.p90, f.rejected_first,
                f.with_target, f.met_target, f.with_limit, f.met_limit, f.open]

    head = ["cases", "accepted", "acceptance_median_wd", "acceptance_p90_wd", "requests", "lost_median_wd",
            "lost_p90_wd", "rejected_by_first", "decided_with_target", "met_target", "decided_with_limit",
            "met_limit", "open"]
    if table == "periods":
        data = [[day.isoformat(), *summary_cols(f)] for day, f in board.by_period.items()]
        header = ["period", *head]
    elif table == "regions":
        data = [[names.get(r, "") if r else "", *summary_cols(f)] for r, f in board.by_region.items()]
        header = ["region", *head]
    elif table == "services":
        data = [[s, *summary_cols(f)] for s, f in board.by_service.items()]
        header = ["service", *head]
    elif table == "distribution":
        data = [[_bucket_label(i), n] for i, n in enumerate(board.total.accepted_h)]
        header = ["working_days_to_acceptance", "cases"]
    elif table == "handovers":
        data = [[names.get(a, a), names.get(b, b), f.sent, f.accepted, f.summary.median, f.summary.p90]
                for (a, b), f in stats.handover_pairs(session, filters).items()]
        header = ["from", "to", "sent", "accepted", "median_wd", "p90_wd"]
    elif table == "rules":
        data = [[r, v, n, k, round(100 * k / n, 1) if n else ""]
                for r, v, n, k in stats.misrouting_by_rule(session, filters)]
        header = ["rule", "rule_set_version", "cases", "rejected_by_first", "percent"]
    elif table == "backlog":
        data = [[_bucket_label(i), n] for i, n in enumerate(board.backlog_hist)]
        header = ["age_working_days", "open_cases"]
    elif table == "stuck":
        data = [[r["reference"], r["status"], names.get(r["authority_id"], r["authority_id"]), r["service_type"],
                 r["filed_on"], r["target_on"]] for r in board.stuck]
        header = ["reference", "status", "authority", "service", "filed_on", "target_on"]
    else:
        abort(404)
    stats.record_export(session, current_user, table, filters)
    return _csv(table, header, data)


def _csv(name: str, header: list[str], rows: list[list]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        # Spreadsheet formula injection: a cell starting with = + - @ is quoted as text.
        writer.writerow([f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else
                         ("" if v is None else v) for v in row])
    response = Response(out.getvalue(), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="indgang-{name}-{danish_today().isoformat()}.csv"'
    return response


# --- public results ------------------------------------------------------------------------------------------


@public_bp.get("/results")
@public_bp.get("/resultater", endpoint="results_da")
def results():
    """Results per authority and service, and the published targets: no login, no
    personal data, no figure based on fewer than ``STATS_MIN_COUNT`` cases."""
    session = get_session()
    since = danish_today() - timedelta(days=365)
    rows = stats.public_results(session, min_count=_min_count(), since=since, locale=_locale())
    statuses = stats.target_statuses(session, stats.active_targets(session, published_only=True),
                                     min_count=_min_count())
    authority = request.args.get("authority") or ""
    if authority:
        rows = [r for r in rows if r.authority_id == authority]
    refreshed = stats.refreshed_at(session)
    return render_template(
        "stats/results.html", rows=rows, statuses=statuses, since=since, min_count=_min_count(),
        number=_number, service_name=service_name, target_labels=TARGET_LABELS, choices=_choices(),
        authority=authority, refreshed=refreshed, describe_target=describe_target, public=True,
    )
