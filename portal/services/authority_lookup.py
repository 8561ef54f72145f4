"""Finding an authority by the name a caseworker typed (the reject form's type-ahead)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal.models import Authority


def by_name(session: Session, typed: str) -> str:
    """The id of the one authority whose Danish or English name is ``typed`` (case and
    surrounding space ignored), else "" (the caller's check then asks to choose one)."""
    name = (typed or "").strip().lower()
    if not name:
        return ""
    ids = list(session.scalars(select(Authority.id).where(
        or_(func.lower(Authority.name_da) == name, func.lower(Authority.name_en) == name))))
    return ids[0] if len(ids) == 1 else ""
