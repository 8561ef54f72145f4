"""The authority registry in the database, across the 2027 region reform."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal.models import Authority, AuthorityKind, RegionMembership
from portal.services.registry import authorities_on, region_of, sync_registry


def test_registry_is_loaded_by_the_migration_step(session):
    counts = dict(
        session.execute(select(Authority.kind, func.count()).group_by(Authority.kind)).all()
    )
    assert counts[AuthorityKind.MUNICIPALITY] == 98
    assert counts[AuthorityKind.REGION] == 6  # five, plus Region Østdanmark from 2027
    assert counts[AuthorityKind.STATE] == 5


def test_sync_is_idempotent(session):
    before = session.scalar(select(func.count()).select_from(RegionMembership))
    sync_registry(session)
    sync_registry(session)
    assert session.scalar(select(func.count()).select_from(RegionMembership)) == before
    assert session.scalar(select(func.count()).select_from(Authority)) == 109


@pytest.mark.parametrize(
    ("day", "region"),
    [
        (date(2026, 12, 31), "Region Hovedstaden"),
        (date(2027, 1, 1), "Region Østdanmark"),
    ],
)
def test_kobenhavn_belongs_to_the_region_valid_on_the_filing_date(session, day, region):
    assert region_of(session, "municipality-101", day).name_da == region


@pytest.mark.parametrize(
    ("municipality", "before", "after"),
    [
        ("municipality-259", "Region Sjælland", "Region Østdanmark"),  # Køge
        ("municipality-400", "Region Hovedstaden", "Region Østdanmark"),  # Bornholm
        ("municipality-461", "Region Syddanmark", "Region Syddanmark"),  # Odense
        ("municipality-851", "Region Nordjylland", "Region Nordjylland"),  # Aalborg
    ],
)
def test_only_the_merged_regions_change(session, municipality, before, after):
    assert region_of(session, municipality, date(2026, 12, 31)).name_da == before
    assert region_of(session, municipality, date(2027, 1, 1)).name_da == after


def test_authorities_valid_on_a_date(session):
    old = {a.id for a in authorities_on(session, date(2026, 12, 31))}
    new = {a.id for a in authorities_on(session, date(2027, 1, 1))}
    assert {"region-1084", "region-1085"} <= old - new
    assert "region-ostdanmark" in new - old
    assert len(new) == 98 + 4 + 5


def test_cli_lists_the_registry_valid_on_a_date(runner):
    result = runner.invoke(args=["authorities", "list", "--on", "2027-01-01"])
    assert result.exit_code == 0, result.output
    assert "Authorities valid on 2027-01-01: 107" in result.output
    assert "Region Hovedstaden" not in result.output
    line = next(line for line in result.output.splitlines() if "municipality-101 " in line)
    assert "Københavns Kommune" in line and "[Region Østdanmark]" in line
    result = runner.invoke(args=["authorities", "list", "--on", "2026-12-31"])
    line = next(line for line in result.output.splitlines() if "municipality-101 " in line)
    assert "[Region Hovedstaden]" in line
