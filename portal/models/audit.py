"""The audit log: who did what to whose data, allowed or denied. Append-only."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String, event
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class AuditOutcome(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class AuditEntry(Base):
    """One audited action. The application can add rows, never change or delete them."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_authority_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[AuditOutcome] = mapped_column(
        Enum(AuditOutcome, native_enum=False, length=8, values_callable=lambda e: [m.value for m in e]),
        default=AuditOutcome.ALLOW,
    )
    case_id: Mapped[int | None] = mapped_column(index=True)
    request_id: Mapped[int | None]
    subject_id: Mapped[int | None] = mapped_column(index=True)  # the citizen whose data it is
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(default=dict)


class AuditRetention(Base):
    """The one row saying before when audit rows may be deleted (retention).

    The database itself refuses to delete a younger audit row, to move this date
    back, or to set it less than 180 days ago (migration ``audit_1``); only the
    retention job moves it, to ``AUDIT_RETENTION_DAYS`` ago.
    """

    __tablename__ = "audit_retention"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delete_before: Mapped[datetime]


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to update or delete an audit row."""


@event.listens_for(AuditEntry, "before_update")
def _refuse_update(_mapper, _connection, target):
    raise AuditLogIsAppendOnly(f"audit row {target.id} cannot be changed")


@event.listens_for(AuditEntry, "before_delete")
def _refuse_delete(_mapper, _connection, target):
    raise AuditLogIsAppendOnly(f"audit row {target.id} cannot be deleted")
