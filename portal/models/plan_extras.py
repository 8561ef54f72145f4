"""What the coordinated plan needs beside its core schema: comments and proposals
from the people on the plan, and notifications (change notices, review reminders),
each sent at most once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class PlanComment(Base):
    """A comment on the plan, or a proposed change, by the citizen or a caseworker."""

    __tablename__ = "plan_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # "comment" or "proposal" (a change the author asks the participants to make).
    kind: Mapped[str] = mapped_column(String(16), default="comment")
    body: Mapped[str] = mapped_column(Text)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanNotification(Base):
    """One e-mail to one person about a plan; ``key`` is unique per cause, so
    writing the cause twice or running the job twice sends one message."""

    __tablename__ = "plan_notifications"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # "plan_changed", "citizen_comment", "citizen_proposal", "review_due"
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|skipped
