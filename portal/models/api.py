"""Machine clients of the API, their tokens, idempotency keys and webhooks.

An ``ApiClient`` belongs to one authority and acts through a service ``User`` of its
own (issuer ``urn:indgang:api-client``), so the case services, which take a user as
the actor, scope and audit API calls exactly as they do a caseworker's.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow
from portal.models.users import User

# The issuer of the service users that stand for API clients.
API_CLIENT_ISSUER = "urn:indgang:api-client"

SCOPES = ("cases:read", "cases:write", "registry:read", "webhooks:manage")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")


class ApiClient(Base):
    """An authority's own system, authenticating with OAuth 2 client credentials.

    Implements the parts of Authlib's ``ClientMixin`` the client credentials grant
    uses. The secret is stored only as a SHA-256 digest: it is 256 random bits, so a
    slow password hash would add nothing.
    """

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    scope: Mapped[str] = mapped_column(String(200))  # space-separated
    auth_method: Mapped[str] = mapped_column(String(32), default="client_secret_basic")
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    jwks: Mapped[dict | None]  # public keys for private_key_jwt
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @property
    def scopes(self) -> set[str]:
        return set(self.scope.split())

    # --- Authlib ClientMixin ---------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return self.scope
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        from portal.services.api_clients import secret_matches

        return self.secret_hash is not None and secret_matches(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == self.auth_method

    def check_response_type(self, response_type) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ApiToken(Base):
    """An issued bearer token, stored as a SHA-256 digest of the token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]

    client: Mapped[ApiClient] = relationship()

    # --- Authlib TokenMixin ----------------------------------------------------------

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None or self.client.revoked_at is not None

    def check_client(self, client) -> bool:
        return client.id == self.api_client_id

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - utcnow()).total_seconds()))


class IdempotencyRecord(Base):
    """A write made with an ``Idempotency-Key``: a retry gets the stored response.

    The row is added to the session before the case service commits, so it commits
    in the same transaction as the change; ``status_code`` is filled in afterwards.
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("api_client_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WebhookSubscription(Base):
    """An authority's HTTPS endpoint for events, with its signing secret.

    The secret must be readable to sign deliveries, so it is stored as given (protect
    the database as you protect the secret key).
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"), index=True)
    created_by_client_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id"))
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the last attempt failed; rq may still retry it


class WebhookDelivery(Base):
    """One event sent to one subscription; the delivery log. A replay is a new row
    with the same ``event_id``, so receivers can drop what they have seen."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict]
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=DeliveryStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    replay_of_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_deliveries.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    subscription: Mapped[WebhookSubscription] = relationship()
