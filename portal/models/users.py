"""Citizens and staff: one table, keyed on the identity provider's (issuer, sub)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow
from portal.models.registry import Authority


class Role(enum.StrEnum):
    CITIZEN = "citizen"
    CASEWORKER = "caseworker"
    TEAM_LEAD = "team_lead"
    COORDINATOR = "coordinator"
    ADMINISTRATOR = "administrator"

    @property
    def is_staff(self) -> bool:
        return self is not Role.CITIZEN


class User(Base):
    """A person who logs in. Never keyed on e-mail: (issuer, subject) is the identity.

    No CPR number is stored: routing needs only the residence municipality, which the
    identity provider supplies at each login.
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    # Staff belong to exactly one authority; citizens to none.
    authority_id: Mapped[str | None] = mapped_column(ForeignKey("authorities.id"), index=True)
    # The citizen's residence municipality code from the last login's claims.
    municipality_code: Mapped[str | None] = mapped_column(String(8))
    birth_date: Mapped[date | None]
    locale: Mapped[str] = mapped_column(String(5), default="da")
    notify_by_email: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    authority: Mapped[Authority | None] = relationship()

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff
