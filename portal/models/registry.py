"""The authority registry in the database, loaded from ``routing/data``."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class AuthorityKind(enum.StrEnum):
    MUNICIPALITY = "municipality"
    REGION = "region"
    STATE = "state"


class Authority(Base):
    """A municipality, region or state agency, valid on [valid_from, valid_to)."""

    __tablename__ = "authorities"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[AuthorityKind] = mapped_column(
        Enum(AuthorityKind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    code: Mapped[str | None] = mapped_column(String(16), index=True)
    name_da: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]
    successor_id: Mapped[str | None] = mapped_column(ForeignKey("authorities.id"))
    # Contact details shown to citizens (help page, case page, receipt).
    address: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(40))
    opening_hours: Mapped[str | None] = mapped_column(String(300))
    website: Mapped[str | None] = mapped_column(String(300))

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_da

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day < self.valid_to
        )


class RegionMembership(Base):
    """A municipality belongs to a region on [valid_from, valid_to)."""

    __tablename__ = "region_memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"), index=True)
    region_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]
