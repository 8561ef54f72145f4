"""Notifications to citizens and staff, each sent at most once.

A notification is written in the transaction of the change that causes it, with a
``key`` unique per cause (``case-opened:<case reference>``, ``deadline-warning:<case id>:<date>``);
the ``notify`` job sends it and records ``sent_at``. Running the cause or the job twice
therefore sends one e-mail.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow

if TYPE_CHECKING:
    from portal.models.cases import Case


class Notification(Base):
    """One message to one person about one thing; never carries personal details."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # The case reference shown in the message: the only detail a notification carries.
    reference: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16), default="email")  # "email" | "none"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|skipped

    # A notification about a case being opened is written in the flush that opens it.
    case: Mapped[Case | None] = relationship()
