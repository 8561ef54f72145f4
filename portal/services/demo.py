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
    return {"people": len(people), "requests": load_demo_requests(session, issuer)}


def load_demo_requests(session: Session, issuer: str) -> int:
    """Give each demo citizen with a municipality a draft and a filed request, once.

    Citizens who already have a request are left alone (idempotent). The filed request
    goes through the filing service, so its routing job waits in the outbox for the
    worker like any other. Returns the number of requests made.
    """
    from portal.models import Request
    from portal.services import filing

    made = 0
    citizens = session.scalars(
        select(User).where(User.issuer == issuer, User.role == Role.CITIZEN, User.municipality_code.is_not(None))
    ).all()
    for citizen in citizens:
        if session.scalar(select(Request.id).where(Request.citizen_id == citizen.id).limit(1)):
            continue
        draft = filing.start_draft(session, citizen, "housing-benefit")
        draft.answers = {"rent": 6500, "adults": 1}
        request = filing.start_draft(session, citizen, "home-care")
        request.answers = {
            "help_type": "practical",
            "need_description": "Jeg kan ikke længere selv gøre rent og handle ind efter en knæoperation.",
            "need_since": "2026-09-01",
            "lives_alone": True,
        }
        session.commit()
        preview = filing.preview_routing(session, request, citizen)
        filing.file_request(
            session, citizen, request, idempotency_key=f"demo-{citizen.id}-home-care",
            confirmed_authority_id=preview.deciding_authority_id, posted_service_type="home-care",
        )
        made += 2
    return made
