"""The authority registry as frozen data with validity dates.

An authority (municipality, region or state agency) exists on the half-open interval
``[valid_from, valid_to)``; a municipality belongs to a region through a
``Membership`` with its own interval, so that the 2027 region reform moves
København from Region Hovedstaden to Region Østdanmark on 2027-01-01 without
rewriting history. ``Registry.on(day)`` gives the ``RegistrySnapshot`` valid that day.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType

import yaml

DATA_DIR = Path(__file__).parent / "data"

# The region reform's date, named once: membership of the merged regions ends here.
REGION_REFORM_DAY = date(2027, 1, 1)


class AuthorityKind(str, enum.Enum):
    """The three levels of the Danish public sector that citizens meet."""

    MUNICIPALITY = "municipality"
    REGION = "region"
    STATE = "state"


@dataclass(frozen=True)
class Authority:
    """One public authority, valid on ``[valid_from, valid_to)``."""

    id: str
    kind: AuthorityKind
    name_da: str
    name_en: str
    code: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    successor_id: str | None = None

    def valid_on(self, day: date) -> bool:
        """True when the authority exists on ``day``."""
        return _within(day, self.valid_from, self.valid_to)

    def name(self, locale: str) -> str:
        """The authority's name in ``locale`` ("da" or "en"), Danish otherwise."""
        return self.name_en if locale == "en" else self.name_da


@dataclass(frozen=True)
class Membership:
    """A municipality belongs to a region on ``[valid_from, valid_to)``."""

    municipality_id: str
    region_id: str
    valid_from: date | None = None
    valid_to: date | None = None

    def valid_on(self, day: date) -> bool:
        return _within(day, self.valid_from, self.valid_to)


def _within(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or start <= day) and (end is None or day < end)


class UnknownMunicipality(LookupError):
    """No municipality with that code exists on the given day."""


@dataclass(frozen=True)
class RegistrySnapshot:
    """The authorities valid on one day, with fast lookups for routing."""

    day: date
    authorities: Mapping[str, Authority]
    municipality_by_code: Mapping[str, Authority]
    region_by_municipality: Mapping[str, Authority]
    # The period [period_from, period_to) around ``day`` in which nothing in the registry
    # changes, so that a rule set compiled for this snapshot serves every day in it.
    # None means unbounded on that side.
    period_from: date | None = None
    period_to: date | None = None

    def covers(self, day: date) -> bool:
        """True when this snapshot is the registry's state on ``day`` too."""
        return _within(day, self.period_from, self.period_to)

    def get(self, authority_id: str) -> Authority | None:
        """The authority with ``authority_id`` if it is valid on this day."""
        return self.authorities.get(authority_id)

    def municipality(self, code: str) -> Authority:
        """The municipality with official ``code``; raises ``UnknownMunicipality``."""
        try:
            return self.municipality_by_code[_normalise_code(code)]
        except KeyError:
            raise UnknownMunicipality(code) from None

    def region_of(self, municipality_id: str) -> Authority:
        """The region a municipality belongs to on this day."""
        return self.region_by_municipality[municipality_id]

    def of_kind(self, kind: AuthorityKind) -> list[Authority]:
        """The valid authorities of one kind, ordered by id."""
        return sorted((a for a in self.authorities.values() if a.kind == kind), key=lambda a: a.id)


def _normalise_code(code: str) -> str:
    # Codes arrive as "101", "0101" or 101 from identity claims; the registry keeps "101".
    return str(int(str(code).strip()))


@dataclass(frozen=True)
class Registry:
    """Every authority and membership over time."""

    authorities: tuple[Authority, ...]
    memberships: tuple[Membership, ...] = field(default=())

    def on(self, day: date) -> RegistrySnapshot:
        """The snapshot of authorities and memberships valid on ``day``."""
        valid = {a.id: a for a in self.authorities if a.valid_on(day)}
        by_code = {
            a.code: a for a in valid.values() if a.kind is AuthorityKind.MUNICIPALITY and a.code
        }
        regions = {
            m.municipality_id: valid[m.region_id]
            for m in self.memberships
            if m.valid_on(day) and m.municipality_id in valid and m.region_id in valid
        }
        period_from, period_to = self.period_around(day)
        return RegistrySnapshot(
            day=day,
            authorities=MappingProxyType(valid),
            municipality_by_code=MappingProxyType(by_code),
            region_by_municipality=MappingProxyType(regions),
            period_from=period_from,
            period_to=period_to,
        )

    def boundaries(self) -> tuple[date, ...]:
        """Every day on which some authority or membership starts or ends, sorted."""
        days = set()
        for item in (*self.authorities, *self.memberships):
            days.update(d for d in (item.valid_from, item.valid_to) if d is not None)
        return tuple(sorted(days))

    def period_around(self, day: date) -> tuple[date | None, date | None]:
        """The half-open period containing ``day`` in which the registry does not change."""
        start = end = None
        for boundary in self.boundaries():
            if boundary <= day:
                start = boundary
            else:
                end = boundary
                break
        return start, end

    def get(self, authority_id: str) -> Authority | None:
        """The authority with that id, whatever its validity."""
        return next((a for a in self.authorities if a.id == authority_id), None)


def municipality_id(code: str) -> str:
    """The registry id of the municipality with official ``code``."""
    return f"municipality-{_normalise_code(code)}"


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@cache
def load_default_registry(data_dir: Path = DATA_DIR) -> Registry:
    """The registry shipped in ``routing/data``: 98 municipalities, 5 regions and
    Region Østdanmark from 2027-01-01, and the state authorities citizens meet."""
    spec = yaml.safe_load((data_dir / "authorities.yaml").read_text(encoding="utf-8"))
    authorities: list[Authority] = []
    for kind, key in ((AuthorityKind.REGION, "regions"), (AuthorityKind.STATE, "state")):
        for row in spec[key]:
            authorities.append(
                Authority(
                    id=row["id"],
                    kind=kind,
                    name_da=row["name_da"],
                    name_en=row["name_en"],
                    code=row.get("code"),
                    valid_from=_as_date(row.get("valid_from")),
                    valid_to=_as_date(row.get("valid_to")),
                    successor_id=row.get("successor"),
                )
            )
    names = spec.get("municipality_names", {})
    successor_of = {a.id: a.successor_id for a in authorities if a.successor_id}
    memberships: list[Membership] = []
    with (data_dir / "municipalities.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            mid = municipality_id(row["code"])
            official = names.get(row["code"], {})
            authorities.append(
                Authority(
                    id=mid,
                    kind=AuthorityKind.MUNICIPALITY,
                    name_da=official.get("da", f"{row['name']} Kommune"),
                    name_en=official.get("en", f"{row['name']} Municipality"),
                    code=row["code"],
                )
            )
            region_id = f"region-{row['region_code']}"
            successor = successor_of.get(region_id)
            if successor:
                memberships.append(Membership(mid, region_id, valid_to=REGION_REFORM_DAY))
                memberships.append(Membership(mid, successor, valid_from=REGION_REFORM_DAY))
            else:
                memberships.append(Membership(mid, region_id))
    return Registry(authorities=tuple(authorities), memberships=tuple(memberships))
