"""Rule sets and service types: versioned data with validity dates."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class RuleSetStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"


class RuleSet(Base):
    """One version of the routing rules. Published versions are never edited."""

    __tablename__ = "rule_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    status: Mapped[RuleSetStatus] = mapped_column(
        Enum(RuleSetStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=RuleSetStatus.DRAFT,
    )
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    source: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ServiceType(Base):
    """A kind of request citizens can file, versioned like rule sets.

    ``definition`` holds the questions, required attachments, citizen-facing status
    texts and service-level target of this version.
    """

    __tablename__ = "service_types"
    __table_args__ = (UniqueConstraint("slug", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(default=1)
    life_situation: Mapped[str] = mapped_column(String(64))
    name_da: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kle: Mapped[str | None] = mapped_column(String(16))
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    definition: Mapped[dict]
