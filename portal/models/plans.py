"""One coordinated plan per citizen: participants with consent, goals, actions, log."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow


class ActionStatus(enum.StrEnum):
    PLANNED = "planned"
    STARTED = "started"
    DONE = "done"
    CANCELLED = "cancelled"


class Plan(Base):
    """A coordinated plan (helhedsorienteret plan) with one lead authority."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    lead_authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    situation: Mapped[str] = mapped_column(Text, default="")
    wishes: Mapped[str] = mapped_column(Text, default="")
    review_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default="active")  # "active" or "closed"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)
    # Why and when the plan ended; a closed plan can be read, not changed.
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_reason: Mapped[str | None] = mapped_column(String(32))
    closed_note: Mapped[str | None] = mapped_column(Text)
    # When retention erased the plan's free text, RETENTION_DAYS after it ended.
    anonymised_at: Mapped[datetime | None]

    participants: Mapped[list[PlanParticipant]] = relationship(back_populates="plan")
    goals: Mapped[list[Goal]] = relationship(back_populates="plan", order_by="Goal.id")

    __mapper_args__ = {"version_id_col": version}
    # One active plan per citizen, kept by the database: two starts at once (a double
    # POST, a caseworker and the citizen) cannot both get through.
    __table_args__ = (
        Index("uq_plans_one_active_per_citizen", "citizen_id", unique=True,
              postgresql_where=text("status = 'active'"), sqlite_where=text("status = 'active'")),
    )


class PlanParticipant(Base):
    """An authority on the plan, present only while the citizen's consent stands."""

    __tablename__ = "plan_participants"
    __table_args__ = (UniqueConstraint("plan_id", "authority_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    coordinator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    consent_given_at: Mapped[datetime | None]
    consent_withdrawn_at: Mapped[datetime | None]

    plan: Mapped[Plan] = relationship(back_populates="participants")

    @property
    def has_consent(self) -> bool:
        return self.consent_given_at is not None and self.consent_withdrawn_at is None


class Goal(Base):
    """A SMART goal: what, how measured, baseline, target value, date, who agreed."""

    __tablename__ = "goals"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    measure: Mapped[str] = mapped_column(String(300))
    baseline: Mapped[float | None]
    target_value: Mapped[float | None]
    due_on: Mapped[date]
    agreed_by: Mapped[str] = mapped_column(String(300), default="")
    measurements: Mapped[list] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(default=1)

    plan: Mapped[Plan] = relationship(back_populates="goals")
    actions: Mapped[list[Action]] = relationship(back_populates="goal", order_by="Action.id")

    __mapper_args__ = {"version_id_col": version}


class Action(Base):
    """A step towards a goal, with exactly one responsible authority and person."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goals.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    authority_id: Mapped[str | None] = mapped_column(ForeignKey("authorities.id"))
    # The citizen may own an action too (then authority_id is None).
    owned_by_citizen: Mapped[bool] = mapped_column(default=False)
    responsible_name: Mapped[str] = mapped_column(String(200))
    responsible_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_on: Mapped[date]
    status: Mapped[ActionStatus] = mapped_column(
        Enum(ActionStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=ActionStatus.PLANNED,
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    version: Mapped[int] = mapped_column(default=1)

    goal: Mapped[Goal] = relationship(back_populates="actions")

    __mapper_args__ = {"version_id_col": version}


class PlanChange(Base):
    """The plan's log: who changed what, when. Append-only, except that retention
    blanks the free text it copied (titles, changed values) once the plan has ended
    long enough ago."""

    __tablename__ = "plan_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    what: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(default=dict)
