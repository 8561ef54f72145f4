"""A realistic, synthetic case history for trying the dashboard at scale.

``generate_history(session, n)`` writes ``n`` filed requests with their cases, case
events and handovers: seasonal volume (fewer in July and at Christmas, more in January
and autumn, few at weekends), municipalities of different sizes, a share of requests
the routing sends to the wrong authority (more under rule-set version 1 than 2), which
are rejected and handed over (some twice), delays of acceptance and decision around
each service's target, suspended deadlines, and open cases at the end.

Fast: rows are written in chunks with PostgreSQL's COPY (or executemany on SQLite).
All people are synthetic and carry no personal data.
"""

from __future__ import annotations

import json
import math
import queue
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from portal.models import Authority, AuthorityKind, CaseStatus, RegionMembership, Role, User

DEMO_ISSUER = "https://demo.indgang.invalid/generated"
GRANTED, REFUSED = json.dumps({"outcome": "granted"}), json.dumps({"outcome": "refused"})
PENDING, ACCEPTED, IN_PROGRESS = CaseStatus.PENDING.value, CaseStatus.ACCEPTED.value, CaseStatus.IN_PROGRESS.value
DECIDED, CLOSED = CaseStatus.DECIDED.value, CaseStatus.CLOSED.value
CHUNK = 20_000
BIG = 100_000  # from this many requests on, indexes are dropped during the load and rebuilt


@dataclass(frozen=True)
class DemoService:
    slug: str
    handler: str  # "municipality", "region" or a state authority id
    weight: float
    target_days: int  # calendar days to the service target
    limit_days: int
    misroute_v1: float  # share sent to the wrong authority under rule-set version 1
    misroute_v2: float
    wrong: str  # where misrouted requests go: "municipality", "neighbour" or an authority id


SERVICES = (
    DemoService("home-care", "municipality", 18, 14, 28, 0.04, 0.02, "neighbour"),
    DemoService("cash-benefit", "municipality", 14, 14, 30, 0.05, 0.03, "neighbour"),
    DemoService("disability-aids", "municipality", 9, 28, 56, 0.08, 0.04, "region"),
    DemoService("job-seeking", "municipality", 9, 7, 14, 0.03, 0.03, "neighbour"),
    DemoService("deposit-loan", "municipality", 4, 28, 49, 0.25, 0.08, "state-udbetaling-danmark"),
    DemoService("housing-benefit", "state-udbetaling-danmark", 14, 28, 49, 0.12, 0.05, "municipality"),
    DemoService("child-benefit", "state-udbetaling-danmark", 8, 21, 42, 0.06, 0.03, "state-skattestyrelsen"),
    DemoService("tax-question", "state-skattestyrelsen", 9, 14, 28, 0.02, 0.02, "municipality"),
    DemoService("custody", "state-familieretshuset", 5, 42, 84, 0.03, 0.03, "municipality"),
    DemoService("psychiatry", "region", 5, 30, 60, 0.10, 0.06, "municipality"),
    DemoService("discharge-help", "both", 5, 7, 14, 0.0, 0.0, "municipality"),
)
# Seasonal volume by month (January .. December) and by weekday (Monday .. Sunday).
SEASON = (1.25, 1.1, 1.05, 1.0, 0.95, 0.9, 0.6, 0.85, 1.15, 1.1, 1.1, 0.8)
WEEKDAY = (1.3, 1.15, 1.1, 1.05, 0.9, 0.25, 0.2)


def generate_history(session: Session, n: int, *, years: float = 2.0, seed: int = 8,
                     now: datetime | None = None) -> dict[str, int]:
    """Write ``n`` requests filed over the last ``years`` with their cases, events and
    handovers. Commits. Returns counts of what was written."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    start = (now - timedelta(days=int(365 * years))).date()
    days = [start + timedelta(days=i) for i in range((now.date() - start).days + 1)]
    day_weights = [SEASON[d.month - 1] * WEEKDAY[d.weekday()] * (0.3 if (d.month, d.day) >= (12, 22) or (d.month, d.day) <= (1, 2) else 1.0) for d in days]
    switch_day = start + (now.date() - start) / 2  # rule-set version 2 from the middle on
    world = _World.load(session, rng)
    citizens = _citizens(session, min(5000, max(50, n // 200)))
    ids = {t: (session.scalar(text(f"SELECT COALESCE(MAX(id), 0) FROM {t}")) or 0) + 1  # noqa: S608 - fixed names
           for t in ("requests", "cases", "case_events", "handovers")}
    writer = _Writer(session)
    dropped = writer.drop_indexes() if n >= BIG else []
    writer.start()
    counts = {"requests": 0, "cases": 0, "events": 0, "handovers": 0}
    service_weights = [s.weight for s in SERVICES]
    done = 0
    while done < n:
        size = min(CHUNK, n - done)
        filed_days = rng.choices(days, weights=day_weights, k=size)
        services = rng.choices(SERVICES, weights=service_weights, k=size)
        homes = rng.choices(world.municipalities, weights=world.municipality_weights, k=size)
        rows: dict[str, list] = {"requests": [], "cases": [], "case_events": [], "handovers": []}
        for day, service, home in zip(filed_days, services, homes, strict=True):
            filed_at = datetime(day.year, day.month, day.day, rng.randint(6, 21), rng.randint(0, 59),
                                rng.randint(0, 59), tzinfo=UTC)
            if filed_at > now:
                filed_at = now - timedelta(minutes=rng.randint(1, 600))
            _one_request(rng, world, ids, rows, service, home, filed_at, now,
                         version=1 if filed_at.date() < switch_day else 2, citizen=rng.choice(citizens))
        writer.put(rows)
        counts["requests"] += len(rows["requests"])
        counts["cases"] += len(rows["cases"])
        counts["events"] += len(rows["case_events"])
        counts["handovers"] += len(rows["handovers"])
        done += size
    writer.finish()
    for statement in dropped:
        session.execute(text(statement))
    session.commit()
    return counts


@dataclass
class _World:
    municipalities: list[str]
    municipality_weights: list[float]
    region_of: dict[str, str]
    neighbours: dict[str, list[str]]

    @classmethod
    def load(cls, session: Session, rng: random.Random) -> _World:
        ids = sorted(session.scalars(select(Authority.id).where(Authority.kind == AuthorityKind.MUNICIPALITY)))
        if not ids:
            raise RuntimeError("no municipalities: run `indgang db upgrade` first (it loads the registry)")
        # Sizes from a Pareto law: a few large municipalities, many small ones.
        weights = [rng.paretovariate(1.2) for _ in ids]
        region_of = {}
        for m in session.scalars(select(RegionMembership).where(RegionMembership.valid_from.is_(None))):
            region_of[m.municipality_id] = m.region_id
        by_region: dict[str, list[str]] = {}
        for mid in ids:
            by_region.setdefault(region_of.get(mid, ""), []).append(mid)
        neighbours = {mid: [x for x in by_region[region_of.get(mid, "")] if x != mid] or ids for mid in ids}
        return cls(ids, weights, region_of, neighbours)


def _citizens(session: Session, count: int) -> list[int]:
    have = list(session.scalars(select(User.id).where(User.issuer == DEMO_ISSUER).limit(count)))
    missing = count - len(have)
    if missing > 0:
        start = session.scalar(select(func.count()).select_from(User).where(User.issuer == DEMO_ISSUER)) or 0
        for i in range(start, start + missing):
            session.add(User(issuer=DEMO_ISSUER, subject=f"generated-{i}", role=Role.CITIZEN,
                             name=f"Borger {i}", municipality_code=None))
        session.flush()
        have = list(session.scalars(select(User.id).where(User.issuer == DEMO_ISSUER).limit(count)))
    return have


def _hours(rng: random.Random, median: float, spread: float = 0.9) -> timedelta:
    return timedelta(hours=rng.lognormvariate(math.log(median), spread))


def _one_request(rng, world: _World, ids, rows, service: DemoService, home: str, filed_at: datetime,
                 now: datetime, *, version: int, citizen: int) -> None:
    request_id = ids["requests"]
    ids["requests"] += 1
    handlers = _handlers(service, home, world)
    status = "routed"
    all_closed = True
    for index, handler in enumerate(handlers):
        closed = _one_case(rng, world, ids, rows, service, home, handler, request_id, index, filed_at, now, version)
        all_closed = all_closed and closed
    if all_closed:
        status = "closed"
    rows["requests"].append((request_id, f"G-{request_id:08d}", citizen, service.slug, 1, status, "{}",
                             home.removeprefix("municipality-"), "da", filed_at, filed_at, filed_at, filed_at.date()))


def _handlers(service: DemoService, home: str, world: _World) -> list[str]:
    if service.handler == "municipality":
        return [home]
    if service.handler == "region":
        return [world.region_of.get(home, "region-1084")]
    if service.handler == "both":
        return [world.region_of.get(home, "region-1084"), home]
    return [service.handler]


def _wrong_authority(rng, service: DemoService, home: str, right: str, world: _World) -> str:
    if service.wrong == "neighbour":
        return rng.choice(world.neighbours[home])
    if service.wrong == "municipality":
        return home if right != home else rng.choice(world.neighbours[home])
    if service.wrong == "region":
        return world.region_of.get(home, "region-1084")
    return service.wrong


def _one_case(rng, world, ids, rows, service: DemoService, home: str, right: str, request_id: int, index: int,
              filed_at: datetime, now: datetime, version: int) -> bool:
    """Write one case with its events and handovers; returns whether it is closed."""
    case_id = ids["cases"]
    ids["cases"] += 1
    events = rows["case_events"]

    def event(kind: str, at: datetime, authority: str, data: str = "{}") -> None:
        # ``data`` is JSON written by hand: identifiers and numbers only, no user text.
        events.append((ids["case_events"], case_id, kind, at, authority, True, data))
        ids["case_events"] += 1

    misroute = service.misroute_v1 if version == 1 else service.misroute_v2
    chain = [right]
    if rng.random() < misroute:
        chain.insert(0, _wrong_authority(rng, service, home, right, world))
        second = rng.choice(world.neighbours[home]) if right != home else world.region_of.get(home, right)
        if rng.random() < 0.12 and second not in chain:  # handed over twice: the second is wrong as well
            chain.insert(1, second)
    first = chain[0]
    opened = filed_at + timedelta(seconds=rng.randint(5, 300))
    target_due = filed_at.date() + timedelta(days=service.target_days)
    limit_due = filed_at.date() + timedelta(days=service.limit_days)
    rule_id = f"{service.slug}-{'municipality' if service.handler in ('municipality', 'both') else 'default'}"
    event("opened", opened, first, f'{{"authority_id": "{first}", "rule_id": "{rule_id}", "rule_set_version": {version}}}')
    event("deadline_set", opened, first, f'{{"target_due": "{target_due}", "limit_due": "{limit_due}"}}')
    at = opened
    holder = first
    accepted_at = None
    # Each wrong authority rejects after a while and hands the case over.
    for nxt in chain[1:]:
        at = at + _hours(rng, 20)
        if at > now:
            break
        event("rejected", at, holder, f'{{"reason": "not ours", "belongs_to": "{nxt}"}}')
        handover_id = ids["handovers"]
        ids["handovers"] += 1
        event("handover_sent", at, holder, f'{{"handover_id": {handover_id}, "from": "{holder}", "to": "{nxt}"}}')
        received = at + _hours(rng, 30)
        accepted = received if received <= now else None
        rows["handovers"].append((handover_id, case_id, holder, nxt, "not ours", at, accepted))
        holder = nxt
        if accepted is None:
            at = now
            break
        event("handover_accepted", accepted, nxt, f'{{"handover_id": {handover_id}}}')
        accepted_at = at = accepted
    if holder == first:
        accepted = at + _hours(rng, 16 if service.target_days <= 14 else 30)
        if accepted <= now:
            event("accepted", accepted, holder)
            accepted_at = at = accepted
    suspended = 0
    if accepted_at is not None and rng.random() < 0.05:
        suspended = rng.randint(5, 21)
        event("deadline_suspended", accepted_at + timedelta(days=1), holder,
              f'{{"days": {suspended}, "reason": "waiting for documentation"}}')
        # As cases.change_deadline does: a suspension moves both deadlines.
        target_due += timedelta(days=suspended)
        limit_due += timedelta(days=suspended)
    decided_at = closed_at = None
    status = PENDING if accepted_at is None else ACCEPTED
    if accepted_at is not None:
        median_days = service.target_days * 0.55 + suspended * 0.8
        decided = accepted_at + timedelta(days=rng.lognormvariate(math.log(max(median_days, 0.5)), 0.55))
        if decided <= now:
            event("decided", decided, holder, GRANTED if rng.random() < 0.8 else REFUSED)
            decided_at, status = decided, DECIDED
            closing = decided + timedelta(hours=rng.randint(1, 72))
            if closing <= now:
                event("closed", closing, holder)
                closed_at, status = closing, CLOSED
        elif (now - accepted_at) > timedelta(days=2):
            status = IN_PROGRESS
    rows["cases"].append((
        case_id, f"G-{request_id:08d}-{index}", request_id, index, holder, first,
        "decides" if index == 0 else "contributes", rule_id, version, status, opened, accepted_at, decided_at,
        closed_at, target_due, limit_due, 1,
    ))
    return closed_at is not None


_COLUMNS = {
    "requests": ("id", "reference", "citizen_id", "service_type_slug", "service_type_version", "status", "answers",
                 "municipality_code", "locale", "created_at", "updated_at", "filed_at", "filed_on"),
    "cases": ("id", "reference", "request_id", "assignment_index", "authority_id", "first_authority_id", "role",
              "rule_id", "rule_set_version", "status", "opened_at", "accepted_at", "decided_at", "closed_at",
              "target_due", "limit_due", "version"),
    "case_events": ("id", "case_id", "kind", "at", "authority_id", "visible_to_citizen", "data"),
    "handovers": ("id", "case_id", "from_authority_id", "to_authority_id", "reason", "sent_at", "accepted_at"),
}


class _Writer:
    """Bulk writes: COPY on PostgreSQL, executemany on SQLite.

    On PostgreSQL a thread of its own writes each chunk while the next is generated
    (the database works while Python does). Only that thread touches the session
    until ``finish``.
    """

    def __init__(self, session: Session):
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def drop_indexes(self) -> list[str]:
        """Drop the plain (not primary, not unique) indexes of the tables we load, on
        PostgreSQL; returns the statements that rebuild them. Building an index once is
        much cheaper than updating it row by row."""
        if not self.pg:
            return []
        rows = self.session.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename IN ('requests', 'cases', 'case_events', 'handovers') "
            "AND indexdef NOT LIKE 'CREATE UNIQUE%'"
        )).all()
        for name, _definition in rows:
            self.session.execute(text(f'DROP INDEX "{name}"'))
        return [definition for _name, definition in rows]

    def start(self) -> None:
        if self.pg:
            self.thread = threading.Thread(target=self._run, name="demo-writer", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while (rows := self.queue.get()) is not None:
            try:
                if self.error is None:
                    for table, table_rows in rows.items():
                        self.write(table, table_rows)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller in finish()
                self.error = exc

    def put(self, rows: dict[str, list]) -> None:
        if self.thread is None:
            for table, table_rows in rows.items():
                self.write(table, table_rows)
            return
        if self.error is not None:
            raise self.error
        self.queue.put(rows)

    def write(self, table: str, rows: list[tuple]) -> None:
        if not rows:
            return
        columns = _COLUMNS[table]
        if self.pg:
            raw = self.session.connection().connection.driver_connection
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"  # noqa: S608
        self.session.connection().exec_driver_sql(sql, [tuple(_sqlite_value(v) for v in row) for row in rows])

    def finish(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            if self.error is not None:
                raise self.error
        if self.pg:
            for table in _COLUMNS:
                self.session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"  # noqa: S608
                ))


def _sqlite_value(value):
    """Values as SQLAlchemy stores them on SQLite (UTC times without zone)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
