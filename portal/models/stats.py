"""Statistics: targets set by coordinators, and the pre-aggregated tables behind the
dashboard and the public results page.

The aggregate tables are derived data: ``indgang stats refresh`` (or the worker job)
rebuilds them from cases, case events and handovers at any time. They are plain Core
tables because only SQL reads them; their histogram columns ``<measure>_h0..`` count
durations in working days per bucket of ``portal.stats.measures.BOUNDS``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, JSONDoc, UTCDateTime, utcnow
from portal.models.cases import CaseStatus
from portal.stats.measures import N_BUCKETS


class TargetMeasure(enum.StrEnum):
    """What a target measures; each is a share of cases (or handovers) in percent."""

    ACCEPTED_WITHIN = "accepted_within"  # cases accepted within N working days of filing
    HANDOVER_WITHIN = "handover_within"  # handovers accepted within N working days
    DECIDED_WITHIN_TARGET = "decided_within_target"  # decided cases within the service target
    DECIDED_WITHIN_LIMIT = "decided_within_limit"  # decided cases within the legal limit
    MISROUTED_AT_MOST = "misrouted_at_most"  # share rejected by the first authority (lower is better)

    @property
    def needs_days(self) -> bool:
        return self in (TargetMeasure.ACCEPTED_WITHIN, TargetMeasure.HANDOVER_WITHIN)

    @property
    def lower_is_better(self) -> bool:
        return self is TargetMeasure.MISROUTED_AT_MOST


class Target(Base):
    """A measurable target with a date, e.g. "90% of handovers accepted within 2
    working days by 2027-06-30", for one service and/or authority (or all)."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    measure: Mapped[TargetMeasure] = mapped_column(
        Enum(TargetMeasure, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])
    )
    threshold_percent: Mapped[float]
    within_days: Mapped[int | None]
    authority_id: Mapped[str | None] = mapped_column(ForeignKey("authorities.id"), index=True)
    service_type: Mapped[str | None] = mapped_column(String(64))
    due_on: Mapped[date]
    published: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    retired_at: Mapped[datetime | None]


def _histogram(prefix: str) -> list[Column]:
    return [Column(f"{prefix}_h{i}", Integer, nullable=False, default=0) for i in range(N_BUCKETS)]


# Working-day running index per date (see measures.WorkingCalendar): working days
# between two dates are the difference of their indexes, also in SQL.
stats_calendar = Table(
    "stats_calendar",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("working_index", Integer, nullable=False),
)

# One row per case: the measures of that case, recomputed when its events change.
stats_case_facts = Table(
    "stats_case_facts",
    Base.metadata,
    Column("case_id", Integer, primary_key=True),
    Column("request_id", Integer, nullable=False),
    Column("counts_request", Boolean, nullable=False),  # the request's lowest assignment
    Column("filed_on", Date, nullable=False, index=True),
    Column("authority_id", String(64), nullable=False, index=True),
    Column("region_id", String(64)),
    Column("first_authority_id", String(64), nullable=False),
    Column("service_type", String(64), nullable=False),
    Column("rule_id", String(100)),
    Column("rule_set_version", Integer),
    Column("accepted_wd", Integer),
    Column("accepted_s", Float),
    Column("lost_wd", Integer),
    Column("lost_s", Float),
    Column("rejected_first", Boolean, nullable=False),
    Column("decided_on", Date),
    Column("target_on", Date),  # suspension-adjusted
    Column("limit_on", Date),
    Column("met_target", Boolean),
    Column("met_limit", Boolean),
    Column("is_open", Boolean, nullable=False),
    Column("refreshed_at", UTCDateTime, nullable=False),
)
# Open cases are few: partial indexes serve the backlog (by filing day) and the stuck
# cases (by target date) without reading the closed ones.
_open = stats_case_facts.c.is_open == True  # noqa: E712 - SQL expression
Index("ix_stats_case_facts_open_filed_on", stats_case_facts.c.filed_on, postgresql_where=_open, sqlite_where=_open)
Index("ix_stats_case_facts_open_target_on", stats_case_facts.c.target_on, postgresql_where=_open, sqlite_where=_open)

def _measure_columns() -> list[Column]:
    """The additive counts and histograms of one (period, authority, service) group."""
    return [
        Column("region_id", String(64), index=True),
        Column("cases", Integer, nullable=False),
        Column("accepted", Integer, nullable=False),
        Column("accepted_s", Float, nullable=False),
        *_histogram("accepted"),
        Column("requests", Integer, nullable=False),
        Column("lost_s", Float, nullable=False),
        *_histogram("lost"),
        Column("rejected_first", Integer, nullable=False),
        Column("decided", Integer, nullable=False),
        Column("with_target", Integer, nullable=False),
        Column("met_target", Integer, nullable=False),
        Column("with_limit", Integer, nullable=False),
        Column("met_limit", Integer, nullable=False),
        Column("open", Integer, nullable=False),
    ]


# Per (filing day, authority, service): additive counts and histograms.
stats_daily = Table(
    "stats_daily",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("authority_id", String(64), primary_key=True),
    Column("service_type", String(64), primary_key=True),
    *_measure_columns(),
)

# The same per (filing month, authority, service): the dashboard reads this when its
# period filter covers whole months (about a sixth of the rows of stats_daily).
stats_monthly = Table(
    "stats_monthly",
    Base.metadata,
    Column("month", Date, primary_key=True),
    Column("authority_id", String(64), primary_key=True),
    Column("service_type", String(64), primary_key=True),
    *_measure_columns(),
)

# Per (day sent, from, to, service): handovers and their times to acceptance.
stats_handover_daily = Table(
    "stats_handover_daily",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("from_authority_id", String(64), primary_key=True),
    Column("to_authority_id", String(64), primary_key=True),
    Column("service_type", String(64), primary_key=True),
    Column("region_id", String(64)),  # the receiving authority's region
    Column("sent", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("accepted_s", Float, nullable=False),
    *_histogram("handover"),
)

# Per (filing day, rule, rule-set version, first authority, service): misrouting.
stats_rule_daily = Table(
    "stats_rule_daily",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("rule_id", String(100), primary_key=True),
    Column("rule_set_version", Integer, primary_key=True),
    Column("first_authority_id", String(64), primary_key=True),
    Column("service_type", String(64), primary_key=True),
    Column("cases", Integer, nullable=False),
    Column("rejected_first", Integer, nullable=False),
)

# One row per open case (the current workload, not the history): the dashboard's
# backlog and stuck cases read this instead of the per-case facts, so their cost does
# not grow with the years of closed cases. Rebuilt by the refresh for the requests it
# recomputes (every request with an open case is among them).
stats_open_cases = Table(
    "stats_open_cases",
    Base.metadata,
    Column("case_id", Integer, primary_key=True),
    Column("request_id", Integer, nullable=False, index=True),
    Column("reference", String(40), nullable=False),
    Column("status", Enum(CaseStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
           nullable=False),
    Column("filed_on", Date, nullable=False),
    Column("authority_id", String(64), nullable=False),
    Column("region_id", String(64)),
    Column("service_type", String(64), nullable=False),
    Column("target_on", Date),
)
Index("ix_stats_open_cases_target_on", stats_open_cases.c.target_on, stats_open_cases.c.case_id)

# Bookkeeping of the refresh: the last case event folded in, and when.
stats_state = Table(
    "stats_state",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("last_event_id", Integer, nullable=False, default=0),
    Column("last_handover_id", Integer, nullable=False, default=0),
    Column("refreshed_at", UTCDateTime),
    Column("service_types", JSONDoc),  # the service types seen, for the filter form
)
