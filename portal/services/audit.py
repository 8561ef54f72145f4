"""Writing the audit log: one row per audited action, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from portal.models import AuditEntry, AuditOutcome, AuditRetention, User
from portal.models.base import utcnow


def record(session: Session, **fields) -> AuditEntry:
    """Add an audit row to ``session`` (the caller commits it with the change).

    Takes ``row``'s keyword arguments.
    """
    entry = AuditEntry(**row(**fields))
    session.add(entry)
    return entry


def insert(session: Session, **fields) -> None:
    """``record`` for hot paths: the row is inserted at once, in the caller's
    transaction, and no ``AuditEntry`` is made (no ORM flush, no id read back).
    Takes ``row``'s keyword arguments."""
    session.execute(AuditEntry.__table__.insert(), row(**fields))


def row(
    *,
    actor: User | None,
    action: str,
    outcome: AuditOutcome = AuditOutcome.ALLOW,
    case_id: int | None = None,
    request_id: int | None = None,
    subject_id: int | None = None,
    correlation_id: str | None = None,
    details: dict | None = None,
) -> dict:
    """The column values of an audit row (``at`` is the column's default).

    The correlation id defaults to the current HTTP request's, so a row can be found
    from the id shown on an error page. ``details`` must never hold tokens or CPR
    numbers.
    """
    return {
        "actor_id": actor.id if actor else None,
        "actor_authority_id": actor.authority_id if actor else None,
        "actor_role": actor.role.value if actor else None,
        "action": action,
        "outcome": outcome,
        "case_id": case_id,
        "request_id": request_id,
        "subject_id": subject_id,
        "correlation_id": _current_correlation_id() if correlation_id is None else correlation_id,
        "details": details or {},
    }


def _current_correlation_id() -> str | None:
    from flask import g, has_request_context

    return g.get("correlation_id") if has_request_context() else None


def delete_expired(session: Session, retention_days: int, now: datetime | None = None) -> int:
    """Delete audit rows older than ``retention_days`` (the retention job). Moves the
    database's cutoff first, which the database allows only forwards and never to less
    than 180 days ago; records a ``retention.audit_deleted`` row. Commits. Returns how
    many rows went."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    session.execute(update(AuditRetention).where(AuditRetention.delete_before < cutoff)
                    .values(delete_before=cutoff))
    deleted = session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff)).rowcount
    if deleted:
        record(session, actor=None, action="retention.audit_deleted",
               details={"before": cutoff.isoformat(), "rows": deleted})
    session.commit()
    return deleted
