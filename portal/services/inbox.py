"""The inbox as a work queue: counts by status and assigning several cases at once.

The filtered list itself is ``portal.services.cases.inbox``; this module holds the
use cases the work queue adds, kept apart until ``cases`` is split into a package
(when ``inbox`` moves here too).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, CaseStatus, EventKind, User
from portal.services import audit, cases

# A decided or closed case has nobody left to work on it.
ASSIGNABLE = (CaseStatus.PENDING, CaseStatus.ACCEPTED, CaseStatus.IN_PROGRESS, CaseStatus.AWAITING_CITIZEN)


@dataclass
class WorkQueue:
    page: cases.InboxPage
    counts: dict[str, int]  # open cases of the authority by status value
    mine: int  # open cases assigned to the user
    unassigned: int  # open cases assigned to nobody


def work_queue(session: Session, user: User, filters: cases.InboxFilters) -> WorkQueue:
    """The filtered inbox (audited as ``case.list``) with the authority's open cases
    counted by status, the user's own and the unassigned. Commits (through
    ``cases.inbox``); raises ``PermissionError`` for non-staff."""
    page = cases.inbox(session, user, filters)
    open_cases = (Case.authority_id == user.authority_id, Case.status != CaseStatus.CLOSED)
    counts = {status.value if hasattr(status, "value") else status: n for status, n in session.execute(
        select(Case.status, func.count()).where(*open_cases).group_by(Case.status))}
    mine = session.scalar(select(func.count()).where(*open_cases, Case.assignee_id == user.id))
    unassigned = session.scalar(select(func.count()).where(*open_cases, Case.assignee_id.is_(None)))
    return WorkQueue(page=page, counts=counts, mine=mine, unassigned=unassigned)


def assign_many(session: Session, user: User, case_ids: list[int], assignee_id: int | None) -> int:
    """Give each case in ``case_ids`` to ``assignee_id`` (a caseworker or team lead of
    the user's authority, or nobody), all or none, in one transaction: an ``ASSIGNED``
    event and a ``case.assign`` audit row per case. Returns how many changed. Commits.

    Raises ``cases.InvalidChange`` (nothing changed) when no case is chosen, the
    assignee is not of the authority, or a case is not at the authority or is decided
    or closed; ``PermissionError`` for non-staff.
    """
    if user is None or not user.is_staff or not user.authority_id:
        raise PermissionError("only caseworkers and team leads of an authority handle cases")
    ids = sorted(set(case_ids))
    if not ids:
        raise cases.InvalidChange({"cases": _l("Choose at least one case.")})
    staff_ids = {u.id for u in cases.caseworkers_of(session, user.authority_id)}
    if assignee_id is not None and assignee_id not in staff_ids:
        raise cases.InvalidChange({"assignee": _l("Choose a caseworker of your authority.")})
    chosen = list(session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id)))
    if len(chosen) != len(ids) or any(c.authority_id != user.authority_id for c in chosen):
        raise cases.InvalidChange({"cases": _l("One of the chosen cases is not at your authority.")})
    if any(c.status not in ASSIGNABLE for c in chosen):
        raise cases.InvalidChange({"cases": _l("A decided or closed case cannot be assigned.")})
    changed = 0
    for case in chosen:
        if case.assignee_id == assignee_id:
            continue
        case.assignee_id = assignee_id
        session.add(CaseEvent(case=case, kind=EventKind.ASSIGNED.value, actor_id=user.id,
                              authority_id=case.authority_id, visible_to_citizen=False,
                              data={"assignee_id": assignee_id, "together_with": len(ids)}))
        audit.record(session, actor=user, action="case.assign", case_id=case.id, request_id=case.request_id,
                     subject_id=case.request.citizen_id, details={"assignee_id": assignee_id, "bulk": True})
        changed += 1
    session.commit()
    return changed
