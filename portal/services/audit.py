"""Writing the audit log: one row per audited action, in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.models import AuditEntry, AuditOutcome, User


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    outcome: AuditOutcome = AuditOutcome.ALLOW,
    case_id: int | None = None,
    request_id: int | None = None,
    subject_id: int | None = None,
    correlation_id: str | None = None,
    details: dict | None = None,
) -> AuditEntry:
    """Add an audit row to ``session`` (the caller commits it with the change).

    The correlation id defaults to the current HTTP request's, so a row can be found
    from the id shown on an error page. ``details`` must never hold tokens or CPR
    numbers.
    """
    if correlation_id is None:
        correlation_id = _current_correlation_id()
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor_authority_id=actor.authority_id if actor else None,
        actor_role=actor.role.value if actor else None,
        action=action,
        outcome=outcome,
        case_id=case_id,
        request_id=request_id,
        subject_id=subject_id,
        correlation_id=correlation_id,
        details=details or {},
    )
    session.add(entry)
    return entry


def _current_correlation_id() -> str | None:
    from flask import g, has_request_context

    return g.get("correlation_id") if has_request_context() else None
