"""Cases at authorities, their append-only events, handovers and messages."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow
from portal.models.registry import Authority
from portal.models.requests import Request


class CaseStatus(enum.StrEnum):
    PENDING = "pending"  # at an authority that has not yet accepted it
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    AWAITING_CITIZEN = "awaiting_citizen"
    DECIDED = "decided"
    CLOSED = "closed"


class EventKind(enum.StrEnum):
    """What a case event records. Figures (time to acceptance, handover time, time
    lost between authorities, deadlines met) are computed from these and handovers."""

    OPENED = "opened"  # routed to an authority: data {authority_id, rule_id, rule_set_version}
    ACCEPTED = "accepted"  # the authority takes the case
    REJECTED = "rejected"  # with reason and the authority it belongs to instead
    HANDOVER_SENT = "handover_sent"  # data {handover_id, from, to}
    HANDOVER_ACCEPTED = "handover_accepted"
    STATUS_CHANGED = "status_changed"  # data {from, to}
    ASSIGNED = "assigned"  # data {assignee_id}
    DEADLINE_SET = "deadline_set"  # data {target_due, limit_due}
    DEADLINE_SUSPENDED = "deadline_suspended"  # data {days, reason}
    DEADLINE_EXTENDED = "deadline_extended"  # data {days, reason, target_due, limit_due}
    DEADLINE_WARNING = "deadline_warning"
    DEADLINE_BREACHED = "deadline_breached"
    MESSAGE = "message"  # data {message_id, to_citizen}
    DECIDED = "decided"  # data {outcome, instant: bool}
    CLOSED = "closed"


class Case(Base):
    """One authority's part of a request. A request gets one case per assignment.

    A handover moves the case to another authority (``authority_id`` changes, a
    ``Handover`` row records from/to and times); the request stays open.
    """

    __tablename__ = "cases"
    # One case per (request, assignment): running the routing job twice opens no twin.
    __table_args__ = (UniqueConstraint("request_id", "assignment_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    assignment_index: Mapped[int] = mapped_column(default=0)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"), index=True)
    # The authority the routing engine first sent the case to (misrouting is measured on it).
    first_authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    role: Mapped[str] = mapped_column(String(16), default="decides")
    rule_id: Mapped[str | None] = mapped_column(String(100))
    rule_set_version: Mapped[int | None]
    status: Mapped[CaseStatus] = mapped_column(
        Enum(CaseStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=CaseStatus.PENDING,
        index=True,
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Two deadlines: the service target and the legal limit (target <= limit).
    target_due: Mapped[date | None] = mapped_column(index=True)
    limit_due: Mapped[date | None]
    # Internal notes are never shown to the citizen or to another authority.
    internal_note: Mapped[str | None] = mapped_column(Text)
    # Optimistic locking: concurrent edits are detected, not silently overwritten.
    version: Mapped[int] = mapped_column(default=1)

    request: Mapped[Request] = relationship()
    authority: Mapped[Authority] = relationship(foreign_keys=[authority_id])

    __mapper_args__ = {"version_id_col": version}


class CaseEvent(Base):
    """Something that happened to a case. Append-only: figures are computed from these.

    The one exception is retention, which blanks the free text people typed
    (``reason`` of rejections, suspensions and extensions) and keeps everything else.
    """

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    authority_id: Mapped[str | None] = mapped_column(ForeignKey("authorities.id"))
    visible_to_citizen: Mapped[bool] = mapped_column(default=True)
    data: Mapped[dict] = mapped_column(default=dict)

    # Lets a new case and its first events be written in one flush (the case id is
    # filled in by SQLAlchemy when the case is inserted).
    case: Mapped[Case] = relationship()


class Handover(Base):
    """A case sent from one authority to another, with the reason and the times."""

    __tablename__ = "handovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    from_authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    to_authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None]
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Message(Base):
    """A message between a caseworker and the citizen on a case."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_citizen: Mapped[bool] = mapped_column(default=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
