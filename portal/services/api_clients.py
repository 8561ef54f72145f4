"""API clients: creating them, issuing and checking their tokens, auditing their calls.

Secrets and tokens are 256 random bits and are stored only as SHA-256 digests; the
plain value is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.orm import Session

from portal.models import (
    ApiClient,
    ApiToken,
    AuditOutcome,
    Authority,
    Case,
    CaseEvent,
    CaseStatus,
    IdempotencyRecord,
    Request,
    Role,
    User,
)
from portal.models.api import API_CLIENT_ISSUER, AUTH_METHODS, SCOPES
from portal.models.base import utcnow
from portal.services import audit

TOKEN_LIFETIME = timedelta(hours=1)
KEEP_EXPIRED = timedelta(days=1)


class ApiClientError(ValueError):
    """A client cannot be created as asked (unknown authority, scope or method)."""


@dataclass(frozen=True)
class NewClient:
    client: ApiClient
    secret: str | None  # shown once; None for private_key_jwt clients


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secret_matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def create_client(
    session: Session,
    *,
    authority_id: str,
    scopes: list[str],
    name: str | None = None,
    auth_method: str = "client_secret_basic",
    jwks: dict | None = None,
) -> NewClient:
    """Create a client of ``authority_id`` with its service user. Commits.

    Returns the client and, for secret-based methods, the secret (never stored in
    plain). Raises ``ApiClientError`` for an unknown authority, scope or method, or a
    ``private_key_jwt`` client without public keys.
    """
    authority = session.get(Authority, authority_id)
    if authority is None:
        raise ApiClientError(f"unknown authority {authority_id!r}")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ApiClientError(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
    if auth_method not in AUTH_METHODS:
        raise ApiClientError(f"auth method must be one of {', '.join(AUTH_METHODS)}")
    if auth_method == "private_key_jwt" and not (jwks and jwks.get("keys")):
        raise ApiClientError("a private_key_jwt client needs a JWK set of public keys")
    client_id = f"{authority_id}.{secrets.token_hex(6)}"
    name = name or f"{authority.name_en} system"
    user = User(issuer=API_CLIENT_ISSUER, subject=client_id, role=Role.CASEWORKER,
                name=f"API: {name}", authority_id=authority_id, locale="da")
    session.add(user)
    session.flush()
    secret = None if auth_method == "private_key_jwt" else secrets.token_urlsafe(32)
    client = ApiClient(
        client_id=client_id, name=name, authority_id=authority_id, user_id=user.id,
        scope=" ".join(s for s in SCOPES if s in scopes), auth_method=auth_method,
        secret_hash=digest(secret) if secret else None, jwks=jwks,
    )
    session.add(client)
    session.flush()
    audit.record(session, actor=None, action="api.client.created",
                 details={"client_id": client_id, "authority_id": authority_id, "scope": client.scope})
    session.commit()
    return NewClient(client=client, secret=secret)


def revoke_client(session: Session, client_id: str) -> ApiClient:
    """Revoke a client: its tokens stop working at once. Commits.

    Raises ``ApiClientError`` for an unknown client.
    """
    client = find_client(session, client_id)
    if client is None:
        raise ApiClientError(f"unknown client {client_id!r}")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        audit.record(session, actor=None, action="api.client.revoked", details={"client_id": client_id})
        session.commit()
    return client


def rotate_secret(session: Session, client_id: str) -> str:
    """Give a secret-based client a new secret and revoke its tokens (a rotation is
    usually a suspected leak). Returns the new secret, shown once. Commits.

    Raises ``ApiClientError`` for an unknown or revoked client, or one that signs
    JWTs (rotate its keys instead).
    """
    client = find_client(session, client_id)
    if client is None:
        raise ApiClientError(f"unknown client {client_id!r}")
    if client.auth_method == "private_key_jwt":
        raise ApiClientError("a private_key_jwt client has no secret: give it new keys instead")
    secret = secrets.token_urlsafe(32)
    client.secret_hash = digest(secret)
    now = utcnow()
    for token in session.scalars(select(ApiToken).where(ApiToken.api_client_id == client.id,
                                                        ApiToken.revoked_at.is_(None))):
        token.revoked_at = now
    audit.record(session, actor=None, action="api.client.secret_rotated", details={"client_id": client_id})
    session.commit()
    return secret


def find_client(session: Session, client_id: str) -> ApiClient | None:
    """The active client with ``client_id``, or None (also for revoked clients)."""
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    return client if client is not None and client.revoked_at is None else None


def list_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.authority_id, ApiClient.id)))


def store_token(session: Session, client: ApiClient, token: dict) -> ApiToken:
    """Keep the digest of a token Authlib issued to ``client``, and audit it. Commits."""
    row = ApiToken(
        api_client_id=client.id,
        token_hash=digest(token["access_token"]),
        scope=token.get("scope", ""),
        expires_at=utcnow() + timedelta(seconds=int(token.get("expires_in", TOKEN_LIFETIME.total_seconds()))),
    )
    session.add(row)
    _purge(session, client)
    audit_call(session, client, "api.token.issued", details={"scope": row.scope})
    session.commit()
    return row


def _purge(session: Session, client: ApiClient) -> None:
    """Forget the client's tokens expired a day ago and idempotency keys older than a
    day (retries come within minutes); done when a token is issued, so the tables stay
    small without a scheduled job."""
    cutoff = utcnow() - KEEP_EXPIRED
    session.execute(delete(ApiToken).where(ApiToken.api_client_id == client.id, ApiToken.expires_at < cutoff))
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.api_client_id == client.id,
                                                    IdempotencyRecord.created_at < cutoff))


def find_token(session: Session, token: str) -> ApiToken | None:
    """The stored token for a presented bearer token, or None."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))


def record_call(session: Session, client: ApiClient, action: str, **details) -> None:
    """Audit a read by ``client`` (registry, rule sets, webhooks) and commit it."""
    audit_call(session, client, action, details=details)
    session.commit()


@dataclass(frozen=True)
class CasePage:
    cases: list[Case]
    updated: dict[int, datetime]  # case id -> time of its newest event
    more: bool


def list_cases(session: Session, client: ApiClient, *, status: CaseStatus | None = None,
               service: str | None = None, updated_since: datetime | None = None, after: int = 0,
               limit: int = 50) -> CasePage:
    """The client's authority's cases after id ``after``, by id (a stable order for
    cursors), filtered; writes a ``case.list`` audit row and commits.

    ``updated_since`` keeps cases opened or with any event at or after that time.
    """
    stmt = select(Case).where(Case.authority_id == client.authority_id, Case.id > after)
    if status is not None:
        stmt = stmt.where(Case.status == status)
    if service:
        stmt = stmt.join(Request, Request.id == Case.request_id).where(Request.service_type_slug == service)
    if updated_since is not None:
        stmt = stmt.where(or_(
            Case.opened_at >= updated_since,
            exists(select(CaseEvent.id).where(CaseEvent.case_id == Case.id, CaseEvent.at >= updated_since)),
        ))
    rows = list(session.scalars(stmt.order_by(Case.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    updated = dict(session.execute(
        select(CaseEvent.case_id, func.max(CaseEvent.at))
        .where(CaseEvent.case_id.in_([c.id for c in rows])).group_by(CaseEvent.case_id)
    ).all()) if rows else {}
    filters = {"status": status.value if status else None, "service": service,
               "updated_since": updated_since.isoformat() if updated_since else None}
    audit_call(session, client, "case.list",
               details={"filters": {k: v for k, v in filters.items() if v}, "shown": len(rows)})
    session.commit()
    return CasePage(cases=rows, updated=updated, more=more)


def audit_call(
    session: Session,
    client: ApiClient,
    action: str,
    *,
    outcome: AuditOutcome = AuditOutcome.ALLOW,
    case_id: int | None = None,
    request_id: int | None = None,
    subject_id: int | None = None,
    details: dict | None = None,
):
    """An audit row for a call by ``client`` (actor: its service user), not committed."""
    return audit.record(
        session, actor=client.user, action=action, outcome=outcome, case_id=case_id,
        request_id=request_id, subject_id=subject_id,
        details={"api_client": client.client_id, **(details or {})},
    )
