"""Loading the authority registry into the database, and reading it back by date."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.models import Authority, AuthorityKind, RegionMembership
from routing.registry import Registry, load_default_registry


def sync_registry(session: Session, registry: Registry | None = None) -> int:
    """Make the authorities table match ``registry`` (the shipped one by default).

    Idempotent: running it twice changes nothing the second time. Returns the
    number of authorities. Commits.
    """
    registry = registry or load_default_registry()
    existing = {a.id: a for a in session.scalars(select(Authority))}
    # Successors are set once every row exists, so the foreign key always resolves.
    for item in registry.authorities:
        row = existing.get(item.id) or Authority(id=item.id)
        row.kind = AuthorityKind(item.kind.value)
        row.code = item.code
        row.name_da = item.name_da
        row.name_en = item.name_en
        row.valid_from = item.valid_from
        row.valid_to = item.valid_to
        session.add(row)
    session.flush()
    for item in registry.authorities:
        session.get(Authority, item.id).successor_id = item.successor_id
    wanted = {(m.municipality_id, m.region_id, m.valid_from, m.valid_to) for m in registry.memberships}
    have = {
        (m.municipality_id, m.region_id, m.valid_from, m.valid_to): m
        for m in session.scalars(select(RegionMembership))
    }
    stale = [m.id for key, m in have.items() if key not in wanted]
    if stale:
        session.execute(delete(RegionMembership).where(RegionMembership.id.in_(stale)))
    for key in wanted - have.keys():
        session.add(RegionMembership(municipality_id=key[0], region_id=key[1], valid_from=key[2], valid_to=key[3]))
    session.commit()
    return len(registry.authorities)


def authorities_on(session: Session, day: date) -> list[Authority]:
    """Every authority valid on ``day``: state, then regions, then municipalities."""
    rows = session.scalars(select(Authority)).all()
    order = {AuthorityKind.STATE: 0, AuthorityKind.REGION: 1, AuthorityKind.MUNICIPALITY: 2}
    return sorted((a for a in rows if a.valid_on(day)), key=lambda a: (order[a.kind], a.id))


def municipality_by_code(session: Session, code: str | None) -> Authority | None:
    """The municipality with the official ``code`` (like "461"), valid or not."""
    if not code:
        return None
    return session.scalar(select(Authority).where(Authority.kind == AuthorityKind.MUNICIPALITY,
                                                  Authority.code == code))


def region_of(session: Session, municipality_id: str, day: date) -> Authority | None:
    """The region a municipality belongs to on ``day``, from the database."""
    for m in session.scalars(
        select(RegionMembership).where(RegionMembership.municipality_id == municipality_id)
    ):
        if (m.valid_from is None or m.valid_from <= day) and (m.valid_to is None or day < m.valid_to):
            return session.get(Authority, m.region_id)
    return None
