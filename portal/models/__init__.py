"""Typed SQLAlchemy 2 models, one module per area.

Import models from here (``from portal.models import Case``); the modules exist to
keep each area small.
"""

from portal.models.api import (
    ApiClient,
    ApiToken,
    DeliveryStatus,
    IdempotencyRecord,
    WebhookDelivery,
    WebhookSubscription,
)
from portal.models.audit import AuditEntry, AuditOutcome, AuditRetention
from portal.models.base import Base
from portal.models.cases import Case, CaseEvent, CaseStatus, EventKind, Handover, Message
from portal.models.feedback import (
    CoordinationOffer,
    DecisionCheck,
    SurveyInvitation,
    SurveyResponse,
)
from portal.models.notifications import Notification
from portal.models.outbox import OutboxMessage, OutboxStatus
from portal.models.plan_extras import PlanComment, PlanNotification
from portal.models.plans import Action, ActionStatus, Goal, Plan, PlanChange, PlanParticipant
from portal.models.registry import Authority, AuthorityKind, RegionMembership
from portal.models.requests import Attachment, Request, RequestStatus, RoutingRecord
from portal.models.rules import RuleSet, RuleSetStatus, ServiceType
from portal.models.stats import Target, TargetMeasure
from portal.models.users import Role, User

__all__ = [
    "Action",
    "ActionStatus",
    "ApiClient",
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "AuditOutcome",
    "AuditRetention",
    "Authority",
    "AuthorityKind",
    "Base",
    "Case",
    "CaseEvent",
    "CoordinationOffer",
    "DecisionCheck",
    "CaseStatus",
    "DeliveryStatus",
    "EventKind",
    "Goal",
    "Handover",
    "IdempotencyRecord",
    "Message",
    "Notification",
    "OutboxMessage",
    "OutboxStatus",
    "Plan",
    "PlanChange",
    "PlanComment",
    "PlanNotification",
    "PlanParticipant",
    "RegionMembership",
    "Request",
    "RequestStatus",
    "Role",
    "RoutingRecord",
    "RuleSet",
    "RuleSetStatus",
    "ServiceType",
    "SurveyInvitation",
    "SurveyResponse",
    "Target",
    "TargetMeasure",
    "User",
    "WebhookDelivery",
    "WebhookSubscription",
]
