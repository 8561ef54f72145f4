"""Demo data: the people of the development identity provider, as portal users."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Role, User

DEMO_PEOPLE = Path(__file__).resolve().parent.parent / "data" / "demo_people.yaml"


def demo_people() -> list[dict]:
    """The demo people shared with the development identity provider."""
    if not DEMO_PEOPLE.exists():
        return []
    return yaml.safe_load(DEMO_PEOPLE.read_text(encoding="utf-8")).get("people", [])


def load_demo(session: Session, config) -> dict[str, int]:
    """Create or update a user for each demo person (idempotent). Commits."""
    issuer = config.get("DEMO_ISSUER") or config.get("IDP_URL") or "http://127.0.0.1:5001"
    people = demo_people()
    for person in people:
        user = session.scalar(
            select(User).where(User.issuer == issuer, User.subject == person["sub"])
        ) or User(issuer=issuer, subject=person["sub"])
        user.role = Role(person.get("role", "citizen"))
        user.name = person["name"]
        user.email = person.get("email")
        user.authority_id = person.get("authority")
        user.municipality_code = person.get("municipality_code")
        session.add(user)
    session.commit()
    return {"people": len(people)}
