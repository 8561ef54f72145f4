"""Instant decisions, coordinated assessments and the citizens' own verdict.

``DecisionCheck``: the outcome of a service type's decision rules for one request.
``CoordinationOffer``: a coordinated assessment offered to a citizen with complex needs.
``SurveyInvitation`` / ``SurveyResponse``: "how did it go?" after a decision. The
response row holds no case, citizen or caseworker id and no free text: it cannot be
traced back to a person; the invitation (one per case) makes answering idempotent.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class DecisionCheck(Base):
    """The decision rules run on a request: outcome, each rule's result, rule-set version.

    ``instant`` is True when the worker decided the case at once. A caseworker may
    review it (``review_outcome`` "confirmed" or "overturned"); a deterministic share is
    ``review_flagged`` for human review.
    """

    __tablename__ = "decision_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    service_type_slug: Mapped[str] = mapped_column(String(64), index=True)
    rule_set_version: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(16))  # granted | refused | undecided
    instant: Mapped[bool] = mapped_column(default=False)
    evaluation: Mapped[dict] = mapped_column(default=dict)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    review_flagged: Mapped[bool] = mapped_column(default=False, index=True)
    reviewed_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_outcome: Mapped[str | None] = mapped_column(String(16))  # confirmed | overturned
    overturned_to: Mapped[str | None] = mapped_column(String(16))  # granted | refused
    overturn_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def final_outcome(self) -> str:
        return self.overturned_to or self.outcome


class CoordinationOffer(Base):
    """A coordinated assessment offered to a citizen, and what came of it."""

    __tablename__ = "coordination_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The request whose routing prompted the offer (unique: the routing job offers once).
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(24))  # several_authorities | open_cases | citizen_asked
    authority_ids: Mapped[list] = mapped_column(default=list)
    lead_authority_id: Mapped[str | None] = mapped_column(ForeignKey("authorities.id"))
    lead_rule_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="offered", index=True)  # offered | accepted | declined
    offered_at: Mapped[datetime] = mapped_column(default=utcnow)
    responded_at: Mapped[datetime | None]
    meeting_requested_at: Mapped[datetime | None]
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    plan_at: Mapped[datetime | None]  # when the plan existed (created, or found already there)


class SurveyInvitation(Base):
    """The citizen is asked how a case went: one invitation, one answer, per case."""

    __tablename__ = "survey_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    service_type_slug: Mapped[str] = mapped_column(String(64))
    invited_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    declined: Mapped[bool] = mapped_column(default=False)


class SurveyResponse(Base):
    """One citizen's answers, kept apart from any case, citizen or caseworker."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"), index=True)
    service_type_slug: Mapped[str] = mapped_column(String(64), index=True)
    answered_on: Mapped[date]
    satisfaction: Mapped[int | None]  # 1 (very dissatisfied) .. 5 (very satisfied)
    repeated_information: Mapped[bool | None]
    clear_who_handled: Mapped[bool | None]
