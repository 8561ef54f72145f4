"""Statistics in the database: refreshing the pre-aggregated tables, and the queries
behind the coordinator dashboard, the benchmarking table and the public results.

The definitions are those of ``portal.stats.measures`` (read its docstring); here they
are computed in SQL so that a million requests stay fast:

1. ``refresh`` recomputes ``stats_case_facts`` (one row per case, its measures) for the
   requests whose cases changed since the last refresh (new events, or still open), then
   rebuilds the daily aggregates of the filing days (and handover days) they touch.
2. The dashboard sums the daily aggregates (histograms of working days per bucket) and
   reads medians and 90th percentiles from the summed histograms.

Scope: aggregated figures carry no personal data, so every coordinator sees everyone's;
lists of cases behind a figure (drill-down) are limited to the coordinator's own
authority (administrators see all). A figure based on fewer than ``STATS_MIN_COUNT``
cases is withheld on the benchmarking table and the public page.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from portal.models import Authority, AuthorityKind, Case, Role, Target, TargetMeasure, User
from portal.models.base import UTCDateTime, utcnow
from portal.models.stats import (
    stats_calendar,
    stats_case_facts,
    stats_daily,
    stats_handover_daily,
    stats_monthly,
    stats_open_cases,
    stats_rule_daily,
    stats_state,
)
from portal.services import audit
from portal.services.deadlines import danish_today
from portal.stats import measures as m

DEFAULT_MIN_COUNT = 10
H = range(m.N_BUCKETS)
OPEN_STATUSES = tuple(sorted(m.OPEN_STATUSES))


# --- dialect differences ---------------------------------------------------------------


class _Dialect:
    """The few SQL expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, session: Session):
        self.pg = session.get_bind().dialect.name == "postgresql"

    def day(self, ts: str) -> str:
        return f"CAST(({ts}) AT TIME ZONE 'UTC' AS date)" if self.pg else f"date({ts})"

    def danish_day(self, ts: str) -> str:
        """The date in Denmark of a UTC timestamp: compared with deadlines, which are
        Danish dates. SQLite knows no time zones; ``register_functions`` gives it one."""
        if self.pg:
            return f"CAST(({ts}) AT TIME ZONE 'Europe/Copenhagen' AS date)"
        return f"danish_date({ts})"

    def register_functions(self, session: Session) -> None:
        """Give this session's SQLite connection the functions the refresh uses."""
        if not self.pg:
            connection = session.connection().connection.driver_connection
            connection.create_function("danish_date", 1, _sqlite_danish_date, deterministic=True)

    def seconds(self, start: str, end: str) -> str:
        if self.pg:
            return f"EXTRACT(EPOCH FROM (({end}) - ({start})))"
        return f"((julianday({end}) - julianday({start})) * 86400.0)"

    def month(self, day: str) -> str:
        return f"CAST(date_trunc('month', {day}) AS date)" if self.pg else f"date({day}, 'start of month')"

    def true(self, expr: str) -> str:
        return f"({expr})" if self.pg else f"(({expr}) = 1)"


def _sqlite_danish_date(value: str | None) -> str | None:
    """``danish_date()`` for SQLite, which stores UTC timestamps as text without a zone."""
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    return m.danish_date(at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def _bucket(expr: str) -> str:
    """SQL for the histogram bucket of a duration in working days."""
    whens = " ".join(f"WHEN {expr} <= {b} THEN {i}" for i, b in enumerate(m.BOUNDS))
    return f"CASE WHEN {expr} IS NULL THEN NULL {whens} ELSE {len(m.BOUNDS)} END"


def _hist_sums(bucket_col: str, prefix: str, cond: str = "1=1") -> str:
    return ", ".join(
        f"SUM(CASE WHEN {bucket_col} = {i} AND {cond} THEN 1 ELSE 0 END) AS {prefix}_h{i}" for i in H
    )


# --- the working-day calendar ------------------------------------------------------------


def ensure_calendar(session: Session, calendar: m.WorkingCalendar | None = None) -> int:
    """Fill ``stats_calendar`` once (2000..2060, Danish holidays). Returns rows added."""
    if session.scalar(select(func.count()).select_from(stats_calendar)):
        return 0
    calendar = calendar or m.WorkingCalendar.danish()
    rows = [{"day": d, "working_index": i} for d, i in calendar.days()]
    for start in range(0, len(rows), 5000):
        session.execute(insert(stats_calendar), rows[start : start + 5000])
    return len(rows)


# --- refresh -------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    requests: int
    days: int
    seconds: float
    full: bool
    skipped: bool = False


REFRESH_LOCK = 8_000_008  # PostgreSQL advisory lock key: one refresh at a time


def schedule_refresh(session: Session, *, full: bool = False) -> bool:
    """Queue a refresh through the outbox unless one is already waiting. Commits.

    Returns whether a job was added. The clock (``indgang stats clock``) calls this
    periodically; services may call it after changing many cases.
    """
    from portal.models import OutboxMessage, OutboxStatus
    from portal.services.outbox import add_job
    from portal.stats.jobs import refresh_statistics

    waiting = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.job == refresh_statistics.job_spec.name,
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.ENQUEUED]),
        )
    )
    if waiting:
        return False
    add_job(session, refresh_statistics, full=full)
    session.commit()
    return True


def refresh(session: Session, *, full: bool = False, as_of: datetime | None = None) -> RefreshResult:
    """Bring the statistics tables up to date with cases, events and handovers. Commits.

    Incremental by default: requests with a new case event since the last refresh, with
    a case not yet in the facts, or with an open case (whose lost time and age grow) are
    recomputed, then the daily aggregates of their filing days. ``full`` recomputes all.
    Safe to run twice: it replaces rows, never adds to them.
    """
    started = time.perf_counter()
    as_of = as_of or utcnow()
    d = _Dialect(session)
    if d.pg and not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": REFRESH_LOCK}):
        session.rollback()  # another refresh is running; it will fold our events in too
        return RefreshResult(0, 0, time.perf_counter() - started, full, skipped=True)
    if d.pg:
        # The window functions over all events sort in memory rather than on disk.
        session.execute(text("SET LOCAL work_mem = '128MB'"))
    d.register_functions(session)
    ensure_calendar(session)
    state = session.execute(select(stats_state).where(stats_state.c.id == 1)).first()
    last_event = state.last_event_id if state and not full else 0
    max_event = session.scalar(text("SELECT COALESCE(MAX(id), 0) FROM case_events")) or 0

    session.execute(text("DROP TABLE IF EXISTS stats_affected"))
    session.execute(text("CREATE TEMPORARY TABLE stats_affected (request_id integer PRIMARY KEY)"))
    if full or state is None:
        session.execute(text("INSERT INTO stats_affected SELECT DISTINCT request_id FROM cases"))
    else:
        session.execute(
            text(
                """
                INSERT INTO stats_affected
                SELECT DISTINCT c.request_id FROM cases c
                WHERE c.id IN (SELECT case_id FROM case_events WHERE id > :last)
                   OR c.id IN (SELECT case_id FROM stats_case_facts WHERE is_open = :yes)
                   OR NOT EXISTS (SELECT 1 FROM stats_case_facts f WHERE f.case_id = c.id)
                """
            ).bindparams(last=last_event, yes=True)
        )
    affected = session.scalar(text("SELECT COUNT(*) FROM stats_affected")) or 0
    if full:
        for table in (stats_case_facts, stats_open_cases, stats_daily, stats_monthly, stats_handover_daily,
                      stats_rule_daily):
            session.execute(delete(table))
    # Days whose aggregates change: filing days and handover days of the affected requests.
    handover_days_sql = f"""
        SELECT DISTINCT {d.day('h.sent_at')} FROM handovers h JOIN cases c ON c.id = h.case_id
        WHERE c.request_id IN (SELECT request_id FROM stats_affected)"""
    handover_days = [r[0] for r in session.execute(text(handover_days_sql))]
    if not full:
        session.execute(
            text("DELETE FROM stats_case_facts WHERE request_id IN (SELECT request_id FROM stats_affected)")
        )
    session.execute(_facts_sql(d), {"as_of": as_of, "now": utcnow(), "open": OPEN_STATUSES})
    _refresh_open_cases(session, d, full)
    filing_days = "SELECT DISTINCT filed_on FROM stats_case_facts WHERE request_id IN (SELECT request_id FROM stats_affected)"
    if not full:
        session.execute(text(f"DELETE FROM stats_daily WHERE day IN ({filing_days})"))
        session.execute(text(f"DELETE FROM stats_rule_daily WHERE day IN ({filing_days})"))
    session.execute(text(_daily_sql(d, f"filed_on IN ({filing_days})")))
    session.execute(text(_rule_daily_sql(f"filed_on IN ({filing_days})")))
    _refresh_handover_days(session, d, handover_days, full)
    months = [r[0] for r in session.execute(text(f"SELECT DISTINCT {d.month('filed_on')} FROM ({filing_days}) x"))]
    _refresh_months(session, d, months, full)
    days = session.scalar(text(f"SELECT COUNT(*) FROM ({filing_days}) x")) or 0
    session.execute(text("DROP TABLE stats_affected"))
    services = sorted(session.scalars(select(stats_monthly.c.service_type).distinct()))
    values = {"last_event_id": max_event, "refreshed_at": as_of, "service_types": services}
    if state is None:
        session.execute(insert(stats_state).values(id=1, last_handover_id=0, **values))
    else:
        session.execute(stats_state.update().where(stats_state.c.id == 1).values(**values))
    session.commit()
    return RefreshResult(affected, days, time.perf_counter() - started, full)


def _facts_sql(d: _Dialect):
    accept = "('accepted', 'handover_accepted')"
    unaccept = "('rejected', 'handover_sent')"
    final = "('decided', 'closed')"
    region = """COALESCE(
        (SELECT rm.region_id FROM region_memberships rm
          WHERE rm.municipality_id = cs.authority_id
            AND (rm.valid_from IS NULL OR rm.valid_from <= {day})
            AND (rm.valid_to IS NULL OR {day} < rm.valid_to)),
        CASE WHEN a.kind = 'region' THEN cs.authority_id END)"""
    sql = f"""
    INSERT INTO stats_case_facts (
        case_id, request_id, counts_request, filed_on, authority_id, region_id, first_authority_id,
        service_type, rule_id, rule_set_version, accepted_wd, accepted_s, lost_wd, lost_s,
        rejected_first, decided_on, target_on, limit_on, met_target, met_limit, is_open, refreshed_at)
    WITH cs AS (
        SELECT c.id AS case_id, c.request_id, c.authority_id, c.first_authority_id, c.rule_id,
               c.rule_set_version, c.status, c.accepted_at, c.decided_at, c.target_due, c.limit_due,
               r.filed_at, r.service_type_slug AS service_type,
               CASE WHEN c.assignment_index = MIN(c.assignment_index) OVER (PARTITION BY c.request_id)
                    THEN 1 ELSE 0 END AS first_of_request
        FROM cases c JOIN requests r ON r.id = c.request_id
        WHERE c.request_id IN (SELECT request_id FROM stats_affected) AND r.filed_at IS NOT NULL
    ),
    ev AS (
        SELECT e.id, e.case_id, e.kind, e.at, e.authority_id, e.data
        FROM case_events e WHERE e.case_id IN (SELECT case_id FROM cs)
    ),
    agg AS (
        SELECT cs.case_id,
            MAX(CASE WHEN ev.kind IN {accept} AND ev.authority_id = cs.authority_id THEN ev.at END) AS final_acc,
            MIN(CASE WHEN ev.kind = 'decided' THEN ev.at END) AS decided_ev,
            MIN(CASE WHEN ev.kind IN {final} THEN ev.at END) AS final_at,
            MAX(CASE WHEN ev.kind = 'rejected' AND ev.authority_id = cs.first_authority_id THEN 1 ELSE 0 END) AS rej_first
        FROM cs LEFT JOIN ev ON ev.case_id = cs.case_id
        GROUP BY cs.case_id
    ),
    pts AS (
        SELECT cs.request_id, cs.case_id, cs.filed_at AS at, 0 AS seq, 0 AS st FROM cs
        UNION ALL
        SELECT cs.request_id, ev.case_id, ev.at, ev.id AS seq,
               CASE WHEN ev.kind IN {unaccept} THEN 0 ELSE 1 END AS st
        FROM ev JOIN cs ON cs.case_id = ev.case_id JOIN agg ON agg.case_id = ev.case_id
        WHERE ev.kind IN {accept[:-1]}, {unaccept[1:-1]}, {final[1:]}
          AND (agg.final_at IS NULL OR ev.at <= agg.final_at)
    ),
    deltas AS (
        SELECT request_id, case_id, at, seq,
               st - COALESCE(LAG(st) OVER (PARTITION BY case_id ORDER BY at, seq), 0) AS dlt
        FROM pts
    ),
    run AS (
        SELECT request_id, at,
               SUM(dlt) OVER w AS held,
               LEAD(at) OVER w AS nxt
        FROM deltas
        WINDOW w AS (PARTITION BY request_id ORDER BY at, seq, case_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    gaps AS (
        SELECT request_id, at AS start_at, COALESCE(nxt, :as_of) AS end_at
        FROM run WHERE held = 0 AND COALESCE(nxt, :as_of) > at
    ),
    lost AS (
        SELECT g.request_id,
               SUM({d.seconds('g.start_at', 'g.end_at')}) AS lost_s,
               SUM(k2.working_index - k1.working_index) AS lost_wd
        FROM gaps g
        JOIN stats_calendar k1 ON k1.day = {d.day('g.start_at')}
        JOIN stats_calendar k2 ON k2.day = {d.day('g.end_at')}
        GROUP BY g.request_id
    ),
    facts AS (
        SELECT cs.*, COALESCE(agg.final_acc, cs.accepted_at) AS acc_at,
               {d.danish_day('COALESCE(agg.decided_ev, cs.decided_at)')} AS decided_day,
               {d.day('cs.filed_at')} AS filed_day,
               agg.rej_first
        FROM cs JOIN agg ON agg.case_id = cs.case_id
    )
    SELECT f.case_id, f.request_id, {d.true('f.first_of_request = 1')}, f.filed_day, f.authority_id,
        {region.format(day='f.filed_day').replace('cs.authority_id', 'f.authority_id')},
        f.first_authority_id, f.service_type, f.rule_id, f.rule_set_version,
        CASE WHEN f.acc_at IS NOT NULL THEN ka.working_index - kf.working_index END,
        CASE WHEN f.acc_at IS NOT NULL THEN {d.seconds('f.filed_at', 'f.acc_at')} END,
        COALESCE(l.lost_wd, 0), COALESCE(l.lost_s, 0),
        {d.true('f.rej_first = 1')},
        f.decided_day,
        f.target_due,
        f.limit_due,
        CASE WHEN f.decided_day IS NOT NULL AND f.target_due IS NOT NULL
             THEN f.decided_day <= f.target_due END,
        CASE WHEN f.decided_day IS NOT NULL AND f.limit_due IS NOT NULL
             THEN f.decided_day <= f.limit_due END,
        f.status IN :open,
        :now
    FROM facts f
    JOIN authorities a ON a.id = f.authority_id
    JOIN stats_calendar kf ON kf.day = f.filed_day
    LEFT JOIN stats_calendar ka ON ka.day = {d.day('f.acc_at')}
    LEFT JOIN lost l ON l.request_id = f.request_id AND f.first_of_request = 1
    """
    return text(sql).bindparams(
        bindparam("as_of", type_=UTCDateTime()),
        bindparam("now", type_=UTCDateTime()),
        bindparam("open", expanding=True),
    )


def _refresh_open_cases(session: Session, d: _Dialect, full: bool) -> None:
    """Replace the open-case rows of the affected requests (all with ``full``). Every
    request with an open case is affected, so a case that closed drops out here."""
    if not full:
        session.execute(
            text("DELETE FROM stats_open_cases WHERE request_id IN (SELECT request_id FROM stats_affected)")
        )
    session.execute(text(f"""
        INSERT INTO stats_open_cases (case_id, request_id, reference, status, filed_on, authority_id, region_id,
                                      service_type, target_on)
        SELECT f.case_id, f.request_id, c.reference, c.status, f.filed_on, f.authority_id, f.region_id,
               f.service_type, f.target_on
        FROM stats_case_facts f JOIN cases c ON c.id = f.case_id
        WHERE {d.true('f.is_open')} AND f.request_id IN (SELECT request_id FROM stats_affected)
    """))


def _daily_sql(d: _Dialect, where: str) -> str:
    cols = ", ".join(
        ["day", "authority_id", "service_type", "region_id", "cases", "accepted", "accepted_s"]
        + [f"accepted_h{i}" for i in H]
        + ["requests", "lost_s"]
        + [f"lost_h{i}" for i in H]
        + ["rejected_first", "decided", "with_target", "met_target", "with_limit", "met_limit", "open"]
    )
    counts_request = d.true("counts_request")
    return f"""
    INSERT INTO stats_daily ({cols})
    SELECT filed_on, authority_id, service_type, MAX(region_id), COUNT(*), COUNT(accepted_wd),
        COALESCE(SUM(accepted_s), 0), {_hist_sums('ab', 'accepted')},
        SUM(CASE WHEN {counts_request} THEN 1 ELSE 0 END),
        COALESCE(SUM(CASE WHEN {counts_request} THEN lost_s ELSE 0 END), 0),
        {_hist_sums('lb', 'lost', counts_request)},
        SUM(CASE WHEN {d.true('rejected_first')} THEN 1 ELSE 0 END),
        COUNT(decided_on),
        COUNT(met_target), SUM(CASE WHEN {d.true('met_target')} THEN 1 ELSE 0 END),
        COUNT(met_limit), SUM(CASE WHEN {d.true('met_limit')} THEN 1 ELSE 0 END),
        SUM(CASE WHEN {d.true('is_open')} THEN 1 ELSE 0 END)
    FROM (SELECT f.*, {_bucket('accepted_wd')} AS ab, {_bucket('lost_wd')} AS lb
          FROM stats_case_facts f WHERE {where}) x
    GROUP BY filed_on, authority_id, service_type
    """


def _refresh_months(session: Session, d: _Dialect, months: list, full: bool) -> None:
    """Rebuild the monthly rows of ``months`` (all with ``full``) from the daily rows."""
    if not full and not months:
        return
    names = [c.name for c in stats_daily.c if c.name not in ("day", "authority_id", "service_type", "region_id")]
    month = d.month("day")
    where = "1=1"
    if not full:
        where = f"{month} IN :months"
        session.execute(text("DELETE FROM stats_monthly WHERE month IN :months").bindparams(
            bindparam("months", expanding=True)), {"months": months})
    stmt = text(f"""
        INSERT INTO stats_monthly (month, authority_id, service_type, region_id, {', '.join(names)})
        SELECT {month}, authority_id, service_type, MAX(region_id), {', '.join(f'SUM({n})' for n in names)}
        FROM stats_daily WHERE {where}
        GROUP BY {month}, authority_id, service_type
    """)
    if not full:
        stmt = stmt.bindparams(bindparam("months", expanding=True))
    session.execute(stmt, {"months": months} if not full else {})


def _rule_daily_sql(where: str) -> str:
    return f"""
    INSERT INTO stats_rule_daily (day, rule_id, rule_set_version, first_authority_id, service_type, cases, rejected_first)
    SELECT filed_on, COALESCE(rule_id, ''), COALESCE(rule_set_version, 0), first_authority_id, service_type,
           COUNT(*), SUM(CASE WHEN rejected_first THEN 1 ELSE 0 END)
    FROM stats_case_facts WHERE {where}
    GROUP BY filed_on, COALESCE(rule_id, ''), COALESCE(rule_set_version, 0), first_authority_id, service_type
    """


def _refresh_handover_days(session: Session, d: _Dialect, days: list, full: bool) -> None:
    if not full and not days:
        return
    sent_day = d.day("h.sent_at")
    where = "1=1"
    params = {}
    if not full:
        where = f"{sent_day} IN :days"
        params["days"] = days
        session.execute(
            text("DELETE FROM stats_handover_daily WHERE day IN :days").bindparams(bindparam("days", expanding=True)),
            params,
        )
    sql = f"""
    INSERT INTO stats_handover_daily (day, from_authority_id, to_authority_id, service_type, region_id,
        sent, accepted, accepted_s, {', '.join(f'handover_h{i}' for i in H)})
    SELECT day, from_authority_id, to_authority_id, service_type, MAX(region_id), COUNT(*), COUNT(wd),
        COALESCE(SUM(secs), 0), {_hist_sums('hb', 'handover')}
    FROM (
        SELECT {sent_day} AS day, h.from_authority_id, h.to_authority_id, r.service_type_slug AS service_type,
            COALESCE((SELECT rm.region_id FROM region_memberships rm
                      WHERE rm.municipality_id = h.to_authority_id
                        AND (rm.valid_from IS NULL OR rm.valid_from <= {sent_day})
                        AND (rm.valid_to IS NULL OR {sent_day} < rm.valid_to)),
                     CASE WHEN a.kind = 'region' THEN h.to_authority_id END) AS region_id,
            CASE WHEN h.accepted_at IS NOT NULL THEN k2.working_index - k1.working_index END AS wd,
            CASE WHEN h.accepted_at IS NOT NULL THEN {d.seconds('h.sent_at', 'h.accepted_at')} END AS secs,
            {_bucket('CASE WHEN h.accepted_at IS NOT NULL THEN k2.working_index - k1.working_index END')} AS hb
        FROM handovers h
        JOIN cases c ON c.id = h.case_id
        JOIN requests r ON r.id = c.request_id
        JOIN authorities a ON a.id = h.to_authority_id
        JOIN stats_calendar k1 ON k1.day = {sent_day}
        LEFT JOIN stats_calendar k2 ON k2.day = {d.day('h.accepted_at')}
        WHERE {where}
    ) x
    GROUP BY day, from_authority_id, to_authority_id, service_type
    """
    stmt = text(sql)
    if not full:
        stmt = stmt.bindparams(bindparam("days", expanding=True))
    session.execute(stmt, params)


# --- reading the figures ---------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the dashboard is narrowed to. ``None`` means all."""

    region_id: str | None = None
    authority_id: str | None = None
    service_type: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    grain: str = "month"

    def where(self, table, *, day_col: str = "day", authority_col: str = "authority_id"):
        conds = []
        if self.region_id:
            conds.append(table.c.region_id == self.region_id)
        if self.authority_id:
            conds.append(table.c[authority_col] == self.authority_id)
        if self.service_type:
            conds.append(table.c.service_type == self.service_type)
        if self.date_from:
            conds.append(table.c[day_col] >= self.date_from)
        if self.date_to:
            conds.append(table.c[day_col] <= self.date_to)
        return conds


_MEASURES = ("cases", "accepted", "accepted_s", "requests", "lost_s", "rejected_first", "decided",
             "with_target", "met_target", "with_limit", "met_limit", "open")
_FIELDS = (*_MEASURES, *(f"accepted_h{i}" for i in H), *(f"lost_h{i}" for i in H))
_AH = len(_MEASURES)  # where the histograms start
_LH = _AH + m.N_BUCKETS


def _figure_property(index: int):
    return property(lambda self: self.values[index])


class Figures:
    """Summed aggregates of one group (a period, region, service or authority).

    A flat list of numbers in the order of ``_FIELDS``, so that summing thousands of
    rows stays cheap in Python.
    """

    __slots__ = ("values",)

    def __init__(self, values=None):
        self.values = [x or 0 for x in values] if values is not None else [0] * len(_FIELDS)

    def add_values(self, values) -> None:
        self.values = [a + (b or 0) for a, b in zip(self.values, values, strict=True)]

    def add(self, other: Figures) -> None:
        self.values = [a + b for a, b in zip(self.values, other.values, strict=True)]

    @property
    def accepted_h(self) -> list[int]:
        return self.values[_AH:_LH]

    @property
    def lost_h(self) -> list[int]:
        return self.values[_LH:]

    @property
    def to_acceptance(self) -> m.Summary:
        return m.Summary.of_histogram(self.accepted_h)

    @property
    def lost(self) -> m.Summary:
        return m.Summary.of_histogram(self.lost_h)

    @property
    def misrouting(self) -> float | None:
        return self.rejected_first / self.cases if self.cases else None

    @property
    def target_share(self) -> float | None:
        return self.met_target / self.with_target if self.with_target else None

    @property
    def limit_share(self) -> float | None:
        return self.met_limit / self.with_limit if self.with_limit else None


for _i, _name in enumerate(_MEASURES):
    setattr(Figures, _name, _figure_property(_i))


def _sums(table) -> list:
    """SUM() of every aggregate column, in the order of ``_FIELDS``."""
    return [func.sum(table.c[name]).label(name) for name in _FIELDS]


def _source(filters: Filters):
    """(table, its period column): the monthly rollup when the filters cover whole
    months, else the daily rows."""
    whole_months = (filters.date_from is None or filters.date_from.day == 1) and (
        filters.date_to is None or (filters.date_to + timedelta(days=1)).day == 1
    )
    if filters.grain == "month" and whole_months:
        return stats_monthly, "month"
    return stats_daily, "day"


class HandoverFigures:
    """Summed handovers of one group: sent, accepted, histogram of working days."""

    __slots__ = ("values",)

    def __init__(self, values=None):
        self.values = [x or 0 for x in values] if values is not None else [0] * (2 + m.N_BUCKETS)

    def add_values(self, values) -> None:
        self.values = [a + (b or 0) for a, b in zip(self.values, values, strict=True)]

    @property
    def sent(self) -> int:
        return self.values[0]

    @property
    def accepted(self) -> int:
        return self.values[1]

    @property
    def hist(self) -> list[int]:
        return self.values[2:]

    @property
    def summary(self) -> m.Summary:
        return m.Summary.of_histogram(self.hist)


@dataclass
class Dashboard:
    filters: Filters
    total: Figures
    by_period: dict[date, Figures]
    by_region: dict[str | None, Figures]
    by_service: dict[str, Figures]
    handovers_total: HandoverFigures
    backlog: m.Summary
    backlog_hist: list[int]
    stuck: list[dict]
    refreshed_at: datetime | None


def dashboard(session: Session, filters: Filters, *, today: date | None = None, stuck_limit: int = 20,
              scope: str | None = None) -> Dashboard:
    """Every figure of the dashboard's main page, from the daily aggregates.

    ``scope`` limits the list of stuck cases to one authority (see ``drill_scope``);
    the aggregated figures are everyone's.
    """
    d = _Dialect(session)
    table, day_col = _source(filters)
    period_col = table.c.month if day_col == "month" else _period_column(d, filters.grain)
    rows = session.execute(
        select(period_col.label("period"), table.c.region_id, table.c.service_type, *_sums(table))
        .where(*filters.where(table, day_col=day_col))
        .group_by(period_col, table.c.region_id, table.c.service_type)
    ).all()
    # Sum each grouping column-wise in one pass over its rows (zip), not row by row:
    # a list comprehension per row and grouping cost more than the query itself.
    values = [[x or 0 for x in row[3:]] for row in rows]
    total = _summed(values)
    by_period = _grouped((_as_date(row.period) for row in rows), values)
    by_region = _grouped((row.region_id for row in rows), values)
    by_service = _grouped((row.service_type for row in rows), values)

    handovers_total = _handovers_total(session, filters)
    backlog, backlog_hist = _backlog(session, filters, today or danish_today())
    stuck = stuck_cases(session, filters, today=today, limit=stuck_limit, visible_to=scope)
    refreshed = refreshed_at(session)
    return Dashboard(filters, total, dict(sorted(by_period.items())), dict(by_region), dict(sorted(by_service.items())),
                     handovers_total, backlog, backlog_hist, stuck, refreshed)


def _summed(values: list[list]) -> Figures:
    figures = Figures()
    if values:
        figures.values = [sum(column) for column in zip(*values, strict=True)]
    return figures


def _grouped(keys: Iterable, values: list[list]) -> dict:
    """``Figures`` per key, summed from the rows of ``values`` with that key."""
    groups: dict = defaultdict(list)
    for key, row in zip(keys, values, strict=True):
        groups[key].append(row)
    return {key: _summed(group) for key, group in groups.items()}


def _period_column(d: _Dialect, grain: str):
    if d.pg:
        return func.cast(func.date_trunc("week" if grain == "week" else "month", stats_daily.c.day), stats_daily.c.day.type)
    if grain == "week":
        return func.date(stats_daily.c.day, "weekday 0", "-6 days")
    return func.date(stats_daily.c.day, "start of month")


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def _handover_conditions(filters: Filters) -> list:
    t = stats_handover_daily
    conds = []
    if filters.region_id:
        conds.append(t.c.region_id == filters.region_id)
    if filters.authority_id:
        conds.append((t.c.to_authority_id == filters.authority_id) | (t.c.from_authority_id == filters.authority_id))
    if filters.service_type:
        conds.append(t.c.service_type == filters.service_type)
    if filters.date_from:
        conds.append(t.c.day >= filters.date_from)
    if filters.date_to:
        conds.append(t.c.day <= filters.date_to)
    return conds


def _handover_sums() -> list:
    t = stats_handover_daily
    return [func.sum(t.c.sent), func.sum(t.c.accepted), *[func.sum(t.c[f"handover_h{i}"]) for i in H]]


def _handovers_total(session: Session, filters: Filters) -> HandoverFigures:
    """All handovers matching the filters, summed (the dashboard's key figure)."""
    row = session.execute(select(*_handover_sums()).where(*_handover_conditions(filters))).one()
    return HandoverFigures(row)


def handover_pairs(session: Session, filters: Filters) -> dict[tuple[str, str], HandoverFigures]:
    """Handovers per (from, to) pair of authorities, most handovers first."""
    t = stats_handover_daily
    rows = session.execute(
        select(t.c.from_authority_id, t.c.to_authority_id, *_handover_sums())
        .where(*_handover_conditions(filters)).group_by(t.c.from_authority_id, t.c.to_authority_id)
    ).all()
    pairs = {(row[0], row[1]): HandoverFigures(row[2:]) for row in rows}
    return dict(sorted(pairs.items(), key=lambda kv: (-kv[1].sent, kv[0])))


def misrouting_by_rule(session: Session, filters: Filters) -> list[tuple[str, int, int, int]]:
    """(rule, rule-set version, cases, rejected by the first authority), worst share first."""
    t = stats_rule_daily
    conds = []
    if filters.authority_id:
        conds.append(t.c.first_authority_id == filters.authority_id)
    if filters.service_type:
        conds.append(t.c.service_type == filters.service_type)
    if filters.date_from:
        conds.append(t.c.day >= filters.date_from)
    if filters.date_to:
        conds.append(t.c.day <= filters.date_to)
    if filters.region_id:
        conds.append(t.c.first_authority_id.in_(_authorities_in_region(session, filters.region_id)))
    rows = session.execute(
        select(t.c.rule_id, t.c.rule_set_version, func.sum(t.c.cases), func.sum(t.c.rejected_first))
        .where(*conds).group_by(t.c.rule_id, t.c.rule_set_version)
    ).all()
    return sorted(((r[0], r[1], int(r[2]), int(r[3])) for r in rows), key=lambda r: (-(r[3] / r[2] if r[2] else 0), r[0], r[1]))


def _authorities_in_region(session: Session, region_id: str) -> list[str]:
    ids = session.scalars(text("SELECT DISTINCT municipality_id FROM region_memberships WHERE region_id = :r"), {"r": region_id}).all()
    return [region_id, *ids]


def _fact_conditions(filters: Filters, t=stats_case_facts):
    conds = []
    if filters.region_id:
        conds.append(t.c.region_id == filters.region_id)
    if filters.authority_id:
        conds.append(t.c.authority_id == filters.authority_id)
    if filters.service_type:
        conds.append(t.c.service_type == filters.service_type)
    if filters.date_from:
        conds.append(t.c.filed_on >= filters.date_from)
    if filters.date_to:
        conds.append(t.c.filed_on <= filters.date_to)
    return conds


def _backlog(session: Session, filters: Filters, today: date) -> tuple[m.Summary, list[int]]:
    """Open cases and their age in working days since filing, as of ``today`` (from
    ``stats_open_cases``: the current workload, whatever the length of the history)."""
    t = stats_open_cases
    today_index = session.scalar(select(stats_calendar.c.working_index).where(stats_calendar.c.day == today)) or 0
    age = (today_index - stats_calendar.c.working_index).label("age")
    rows = session.execute(
        select(age, func.count())
        .select_from(t.join(stats_calendar, stats_calendar.c.day == t.c.filed_on))
        .where(*_fact_conditions(filters, t))
        .group_by(age)
    ).all()
    hist = [0] * m.N_BUCKETS
    for value, n in rows:
        hist[m.bucket_of(max(0, int(value)))] += n
    return m.Summary.of_histogram(hist), hist


def stuck_cases(session: Session, filters: Filters, *, today: date | None = None, limit: int = 20,
                visible_to: str | None = None) -> list[dict]:
    """Open cases past their (suspension-adjusted) target, longest overdue first."""
    t = stats_open_cases
    today = today or danish_today()
    conds = [t.c.target_on < today, *_fact_conditions(filters, t)]
    if visible_to:
        conds.append(t.c.authority_id == visible_to)
    rows = session.execute(
        select(t.c.case_id, t.c.authority_id, t.c.service_type, t.c.filed_on, t.c.target_on, t.c.reference, t.c.status)
        .where(*conds).order_by(t.c.target_on, t.c.case_id).limit(limit)
    ).all()
    return [dict(r._mapping) for r in rows]


# --- drill-down ------------------------------------------------------------------------------------


def drill_scope(user: User) -> str | None:
    """The authority whose cases ``user`` may list (None: all, for administrators).

    A coordinator sees everyone's aggregated figures, but the cases behind a figure only
    of their own authority: lists of cases are personal data of that authority's citizens.
    """
    if user.role is Role.ADMINISTRATOR:
        return None
    if user.role is Role.COORDINATOR and user.authority_id:
        return user.authority_id
    raise PermissionError("only coordinators and administrators see statistics")


def cases_behind(
    session: Session, filters: Filters, user: User, *, period: date | None = None, bucket: int | None = None,
    measure: str = "accepted", limit: int = 200, today: date | None = None,
) -> list[dict]:
    """The cases behind a bar (a period and/or a histogram bucket), within the user's
    scope, stuck cases (open and past target) first. Writes an audit row (commits)."""
    t = stats_case_facts
    today = today or danish_today()
    scope = drill_scope(user)
    conds = _fact_conditions(filters)
    if scope:
        conds.append(t.c.authority_id == scope)
    if period is not None:
        end = _period_end(period, filters.grain)
        conds += [t.c.filed_on >= period, t.c.filed_on < end]
    if bucket is not None:
        column = {"accepted": t.c.accepted_wd, "lost": t.c.lost_wd}.get(measure, t.c.accepted_wd)
        low = m.BOUNDS[bucket - 1] + 1 if bucket > 0 else 0
        conds.append(column >= low)
        if bucket < len(m.BOUNDS):
            conds.append(column <= m.BOUNDS[bucket])
    stuck = (t.c.is_open == True) & (t.c.target_on < today)  # noqa: E712
    rows = session.execute(
        select(t.c.case_id, Case.reference, Case.status, t.c.authority_id, t.c.service_type, t.c.filed_on,
               t.c.accepted_wd, t.c.lost_wd, t.c.target_on, t.c.is_open,
               sql_case((stuck, 1), else_=0).label("stuck"))
        .join(Case, Case.id == t.c.case_id)
        .where(*conds)
        .order_by(sql_case((stuck, 0), else_=1), t.c.target_on, t.c.filed_on, t.c.case_id)
        .limit(limit)
    ).all()
    audit.record(session, actor=user, action="stats.drill_down",
                 details={"filters": _filters_dict(filters), "period": period.isoformat() if period else None,
                          "bucket": bucket, "measure": measure, "rows": len(rows)})
    session.commit()
    return [dict(r._mapping) for r in rows]


def _period_end(start: date, grain: str) -> date:
    if grain == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _filters_dict(filters: Filters) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in filters.__dict__.items() if v}


def record_view(session: Session, user: User, filters: Filters, cases_listed: int) -> None:
    """Audit a dashboard view that listed cases (the stuck cases). Commits."""
    audit.record(session, actor=user, action="stats.dashboard_viewed",
                 details={"filters": _filters_dict(filters), "cases_listed": cases_listed})
    session.commit()


def record_export(session: Session, user: User, table: str, filters: Filters) -> None:
    """Audit a CSV export of a statistics table (commits)."""
    audit.record(session, actor=user, action="stats.export", details={"table": table, "filters": _filters_dict(filters)})
    session.commit()


# --- benchmarking ---------------------------------------------------------------------------------------

BENCHMARK_MEASURES = ("to_acceptance", "lost", "target_share", "limit_share", "misrouting")


@dataclass(frozen=True)
class BenchmarkRow:
    rank: int | None
    authority_id: str
    name: str
    count: int
    value: float | None  # None: fewer cases than the minimum
    p90: float | None = None


def benchmark(session: Session, filters: Filters, measure: str, *, min_count: int = DEFAULT_MIN_COUNT,
              locale: str = "da") -> list[BenchmarkRow]:
    """The same figure for every municipality, ranked best first; figures based on
    fewer than ``min_count`` cases are withheld (shown last, unranked)."""
    if measure not in BENCHMARK_MEASURES:
        raise ValueError(f"unknown measure {measure!r}")
    narrowed = Filters(service_type=filters.service_type, date_from=filters.date_from,
                       date_to=filters.date_to, region_id=filters.region_id)
    table, day_col = _source(narrowed)
    rows = session.execute(
        select(table.c.authority_id, *_sums(table))
        .where(*narrowed.where(table, day_col=day_col))
        .group_by(table.c.authority_id)
    ).all()
    figures: dict[str, Figures] = {}
    for row in rows:
        figures.setdefault(row.authority_id, Figures()).add_values(row[1:])
    query = select(Authority).where(Authority.kind == AuthorityKind.MUNICIPALITY)
    municipalities = session.scalars(query).all()
    if filters.region_id:
        wanted = set(_authorities_in_region(session, filters.region_id))
        municipalities = [a for a in municipalities if a.id in wanted]
    out = []
    for a in municipalities:
        f = figures.get(a.id, Figures())
        count, value, p90 = _benchmark_value(f, measure)
        out.append((a, count, value if count >= min_count else None, p90 if count >= min_count else None))
    lower_better = measure in ("to_acceptance", "lost", "misrouting")
    shown = sorted((r for r in out if r[2] is not None), key=lambda r: (r[2] if lower_better else -r[2], -r[1], r[0].id))
    hidden = sorted((r for r in out if r[2] is None), key=lambda r: r[0].name(locale))
    result, rank, last = [], 0, None
    for i, (a, count, value, p90) in enumerate(shown, start=1):
        if value != last:
            rank, last = i, value
        result.append(BenchmarkRow(rank, a.id, a.name(locale), count, value, p90))
    result += [BenchmarkRow(None, a.id, a.name(locale), count, None) for a, count, _, _ in hidden]
    return result


def _benchmark_value(f: Figures, measure: str) -> tuple[int, float | None, float | None]:
    if measure == "to_acceptance":
        s = f.to_acceptance
        return s.count, s.median, s.p90
    if measure == "lost":
        s = f.lost
        return s.count, s.median, s.p90
    if measure == "target_share":
        return f.with_target, f.target_share, None
    if measure == "limit_share":
        return f.with_limit, f.limit_share, None
    return f.cases, f.misrouting, None


# --- targets ------------------------------------------------------------------------------------------------


class TargetError(ValueError):
    """A target that cannot be measured as given; ``field`` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def create_target(session: Session, user: User, *, measure: str, threshold_percent: float,
                  within_days: int | None, due_on: date, authority_id: str | None,
                  service_type: str | None, published: bool = True) -> Target:
    """Set a target (coordinators and administrators). Commits with an audit row.

    Raises ``TargetError`` for a measure, threshold or day count that cannot be measured,
    ``PermissionError`` for other roles.
    """
    if user.role not in (Role.COORDINATOR, Role.ADMINISTRATOR):
        raise PermissionError("only coordinators set targets")
    try:
        kind = TargetMeasure(measure)
    except ValueError:
        raise TargetError("measure", "unknown measure")
    if not 0 <= threshold_percent <= 100:
        raise TargetError("threshold_percent", "threshold must be between 0 and 100")
    if kind.needs_days:
        if within_days is None or within_days not in m.BOUNDS:
            raise TargetError("within_days", "days must be one of the measured bounds")
    else:
        within_days = None
    if authority_id and session.get(Authority, authority_id) is None:
        raise TargetError("authority_id", "unknown authority")
    if user.role is Role.COORDINATOR:
        # A coordinator steers their own authority; targets across authorities are
        # set by administrators. An empty choice means the coordinator's authority.
        authority_id = authority_id or user.authority_id
        if authority_id != user.authority_id:
            raise TargetError("authority_id", "coordinators set targets for their own authority")
    target = Target(measure=kind, threshold_percent=threshold_percent, within_days=within_days, due_on=due_on,
                    authority_id=authority_id or None, service_type=service_type or None, published=published,
                    created_by_id=user.id)
    session.add(target)
    session.flush()
    audit.record(session, actor=user, action="stats.target_created", details={"target_id": target.id})
    session.commit()
    return target


def retire_target(session: Session, user: User, target_id: int) -> None:
    """Stop showing a target (kept for the record). Commits with an audit row."""
    if user.role not in (Role.COORDINATOR, Role.ADMINISTRATOR):
        raise PermissionError("only coordinators retire targets")
    target = session.get(Target, target_id)
    if target is None or target.retired_at is not None:
        raise LookupError(target_id)
    target.retired_at = utcnow()
    audit.record(session, actor=user, action="stats.target_retired", details={"target_id": target.id})
    session.commit()


@dataclass(frozen=True)
class TargetStatus:
    target: Target
    current: float | None  # percent, over the last ``window`` days
    count: int
    trend: list[tuple[date, float | None]]  # monthly percent, oldest first
    on_track: bool | None  # None: too few cases to say


def active_targets(session: Session, *, published_only: bool = False) -> list[Target]:
    query = select(Target).where(Target.retired_at.is_(None)).order_by(Target.due_on, Target.id)
    if published_only:
        query = query.where(Target.published == True)  # noqa: E712
    return list(session.scalars(query))


def target_statuses(session: Session, targets: Iterable[Target], *, today: date | None = None,
                    months: int = 6, min_count: int = 1) -> list[TargetStatus]:
    """Each target with its current figure (last 3 months), monthly trend and on-track flag.

    On track: the current figure meets the threshold, or the trend over the months shown,
    continued in a straight line, meets it by the due date.
    """
    today = today or danish_today()
    start = _add_months(today.replace(day=1), -(months - 1))
    recent = _add_months(today.replace(day=1), -2)
    out = []
    for target in targets:
        monthly = _target_monthly(session, target, start)
        trend = [(mo, _share(*monthly.get(mo, (0, 0)))) for mo in _months(start, months)]
        hits = sum(v[0] for mo, v in monthly.items() if mo >= recent)
        count = sum(v[1] for mo, v in monthly.items() if mo >= recent)
        current = _share(hits, count)
        on_track = None
        if current is not None and count >= min_count:
            on_track = _meets(target, current) or _projected(target, trend, today)
        out.append(TargetStatus(target, current, count, trend, on_track))
    return out


def _meets(target: Target, percent: float) -> bool:
    if target.measure.lower_is_better:
        return percent <= target.threshold_percent
    return percent >= target.threshold_percent


def _projected(target: Target, trend: list[tuple[date, float | None]], today: date) -> bool:
    points = [(i, v) for i, (_, v) in enumerate(trend) if v is not None]
    if len(points) < 3 or target.due_on <= today:
        return False
    n = len(points)
    mx = sum(i for i, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((i - mx) ** 2 for i, _ in points)
    slope = sum((i - mx) * (v - my) for i, v in points) / sxx if sxx else 0.0
    months_left = (target.due_on.year - today.year) * 12 + target.due_on.month - today.month
    projected = points[-1][1] + slope * months_left
    return _meets(target, projected)


def _share(hits: int, count: int) -> float | None:
    return 100.0 * hits / count if count else None


def _add_months(day: date, n: int) -> date:
    month = day.month - 1 + n
    return date(day.year + month // 12, month % 12 + 1, 1)


def _months(start: date, n: int) -> list[date]:
    return [_add_months(start, i) for i in range(n)]


def _target_monthly(session: Session, target: Target, start: date) -> dict[date, tuple[int, int]]:
    """(hits, count) per month for a target's measure and scope."""
    d = _Dialect(session)
    if target.measure is TargetMeasure.HANDOVER_WITHIN:
        t = stats_handover_daily
        upto = m.BOUNDS.index(target.within_days)
        hits = sum(t.c[f"handover_h{i}"] for i in range(upto + 1))
        count = t.c.accepted
        conds = [t.c.day >= start]
        if target.authority_id:
            conds.append(t.c.to_authority_id == target.authority_id)
    else:
        t = stats_monthly
        conds = [t.c.month >= start]
        if target.authority_id:
            conds.append(t.c.authority_id == target.authority_id)
        if target.measure is TargetMeasure.ACCEPTED_WITHIN:
            upto = m.BOUNDS.index(target.within_days)
            hits, count = sum(t.c[f"accepted_h{i}"] for i in range(upto + 1)), t.c.accepted
        elif target.measure is TargetMeasure.DECIDED_WITHIN_TARGET:
            hits, count = t.c.met_target, t.c.with_target
        elif target.measure is TargetMeasure.DECIDED_WITHIN_LIMIT:
            hits, count = t.c.met_limit, t.c.with_limit
        else:
            hits, count = t.c.rejected_first, t.c.cases
    if target.service_type:
        conds.append(t.c.service_type == target.service_type)
    if t is stats_monthly:
        period = t.c.month
    elif d.pg:
        period = func.cast(func.date_trunc("month", t.c.day), t.c.day.type)
    else:
        period = func.date(t.c.day, "start of month")
    rows = session.execute(select(period, func.sum(hits), func.sum(count)).where(*conds).group_by(period)).all()
    return {_as_date(p): (int(h or 0), int(c or 0)) for p, h, c in rows}


# --- public results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicRow:
    authority_id: str
    authority: str
    service_type: str
    cases: int
    median_days: float | None  # working days from filing to acceptance
    target_share: float | None  # percent decided within target
    shown: bool


def public_results(session: Session, *, min_count: int = DEFAULT_MIN_COUNT, since: date | None = None,
                   locale: str = "da") -> list[PublicRow]:
    """Results per authority and service from the daily aggregates (refreshed daily by
    the worker). Groups with fewer than ``min_count`` cases show no figure at all."""
    t = stats_monthly
    conds = [t.c.month >= since.replace(day=1)] if since else []
    rows = session.execute(
        select(t.c.authority_id, t.c.service_type, *_sums(t)).where(*conds).group_by(t.c.authority_id, t.c.service_type)
    ).all()
    names = {a.id: a.name(locale) for a in session.scalars(select(Authority))}
    out = []
    for row in rows:
        f = Figures(row[2:])
        shown = f.cases >= min_count
        median = f.to_acceptance.median if shown and f.accepted >= min_count else None
        share = f.target_share if shown and f.with_target >= min_count else None
        out.append(PublicRow(row.authority_id, names.get(row.authority_id, row.authority_id), row.service_type,
                             f.cases if shown else 0, median, None if share is None else 100 * share, shown))
    return sorted(out, key=lambda r: (r.authority, r.service_type))


def refreshed_at(session: Session) -> datetime | None:
    """When the statistics tables were last refreshed (None: never)."""
    return session.scalar(select(stats_state.c.refreshed_at).where(stats_state.c.id == 1))


def service_types(session: Session) -> list[str]:
    """The service types with figures (kept by ``refresh``)."""
    return list(session.scalar(select(stats_state.c.service_types).where(stats_state.c.id == 1)) or [])


def now_utc() -> datetime:
    return datetime.now(UTC)
