"""The transactional outbox: jobs written in the same transaction as the change."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # committed, not yet in Redis
    ENQUEUED = "enqueued"  # in rq under job id "outbox-<id>"
    DONE = "done"
    FAILED = "failed"


class OutboxMessage(Base):
    """A job to run once the transaction that wrote it has committed.

    The relay moves pending rows to rq with ``outbox-<id>`` as the job id, so a
    second relay run cannot enqueue the same work twice.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(100))  # dotted name of the job function
    args: Mapped[dict] = mapped_column(default=dict)  # keyword arguments: plain ids only
    queue: Mapped[str] = mapped_column(String(32), default="default")
    timeout: Mapped[int] = mapped_column(default=180)
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=OutboxStatus.PENDING,
        index=True,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    @property
    def job_id(self) -> str:
        return f"outbox-{self.id}"
