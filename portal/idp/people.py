"""Demo people of the development identity provider (portal/data/demo_people.yaml).

The portal's demo seed reads the same file through :func:`load_demo_people`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_PEOPLE_FILE = Path(__file__).resolve().parent.parent / "data" / "demo_people.yaml"

ROLES = ("citizen", "caseworker", "team_lead", "coordinator", "administrator")
LOA_PREFIX = "https://data.gov.dk/concept/core/nsis/loa/"


@dataclass(frozen=True)
class DemoPerson:
    """One person who can log in at the development identity provider."""

    id: str
    sub: str
    kind: str  # "citizen" or "staff"
    name: str
    given_name: str = ""
    family_name: str = ""
    email: str | None = None
    municipality_code: str | None = None
    loa: str | None = None  # Low, Substantial or High (citizens)
    roles: tuple[str, ...] = ()
    authority: str | None = None
    description_en: str = ""
    description_da: str = ""
    extra_claims: dict = field(default_factory=dict, hash=False, compare=False)

    def get_user_id(self) -> str:
        """Authlib asks the user object for its id."""
        return self.sub


def load_demo_people(path: str | Path | None = None) -> list[DemoPerson]:
    """Read the demo people file, in file order.

    Raises ``ValueError`` when an entry lacks id, sub or name, or when an id or sub
    repeats.
    """
    data = yaml.safe_load(Path(path or DEFAULT_PEOPLE_FILE).read_text(encoding="utf-8"))
    people: list[DemoPerson] = []
    known = {f for f in DemoPerson.__dataclass_fields__ if f not in ("kind", "roles")}
    for entry in data.get("people") or []:
        entry = dict(entry)
        for required in ("id", "sub", "name", "role"):
            if not entry.get(required):
                raise ValueError(f"demo person without {required}: {entry!r}")
        role = entry.pop("role")
        if role not in ROLES:
            raise ValueError(f"demo person {entry['id']}: unknown role {role!r}")
        extra = {k: entry.pop(k) for k in list(entry) if k not in known}
        people.append(
            DemoPerson(
                kind="citizen" if role == "citizen" else "staff",
                roles=() if role == "citizen" else (role,),
                extra_claims=extra,
                **{k: (str(v) if v is not None else None) for k, v in entry.items()},
            )
        )
    ids = [p.id for p in people]
    subs = [p.sub for p in people]
    if len(set(ids)) != len(ids) or len(set(subs)) != len(subs):
        raise ValueError("demo people ids and subs must be unique")
    return people
