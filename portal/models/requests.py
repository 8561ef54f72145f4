"""A citizen's request, its attachments and the routing decision made for it."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow
from portal.models.users import User


class RequestStatus(enum.StrEnum):
    DRAFT = "draft"  # being filled in; not yet filed
    FILED = "filed"  # committed with its outbox row; waiting for the worker
    ROUTED = "routed"  # cases opened at every assigned authority
    UNROUTABLE = "unroutable"  # no rule matched: a coordinator must act
    CLOSED = "closed"


class Request(Base):
    """What a citizen asked for. Never closed by a handover between authorities."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    service_type_slug: Mapped[str] = mapped_column(String(64), index=True)
    service_type_version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[RequestStatus] = mapped_column(
        Enum(RequestStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=RequestStatus.DRAFT,
        index=True,
    )
    answers: Mapped[dict] = mapped_column(default=dict)
    # Residence municipality at filing: routing uses this, never a postal code.
    municipality_code: Mapped[str | None] = mapped_column(String(8))
    locale: Mapped[str] = mapped_column(String(5), default="da")
    # The client's key for this submission: a double submit files once.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    filed_at: Mapped[datetime | None] = mapped_column(index=True)
    filed_on: Mapped[date | None]
    # When retention erased the request's personal data (the retention job's own mark:
    # a request is anonymised once, and later runs pass over it).
    anonymised_at: Mapped[datetime | None]

    citizen: Mapped[User] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(back_populates="request")


class Attachment(Base):
    """An uploaded file, stored outside the web root under a generated name."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    kind: Mapped[str | None] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[Request] = relationship(back_populates="attachments")


class RoutingRecord(Base):
    """The routing decision made for a request, with the rule-set version behind it."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), unique=True)
    rule_set_version: Mapped[int]
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    decision: Mapped[dict]
