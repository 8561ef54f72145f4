"""Factories: plain functions with keyword overrides, one per model we build in tests."""

from __future__ import annotations

import itertools
from datetime import date

from portal.models import Case, CaseStatus, Request, RequestStatus, Role, User
from portal.models.base import utcnow

_seq = itertools.count(1)
TEST_ISSUER = "https://idp.test"


def make_user(session, **overrides) -> User:
    n = next(_seq)
    values = {
        "issuer": TEST_ISSUER,
        "subject": f"user-{n}",
        "role": Role.CITIZEN,
        "name": f"Test Person {n}",
        "email": f"person{n}@example.test",
        "municipality_code": "461",
    }
    values.update(overrides)
    user = User(**values)
    session.add(user)
    session.flush()
    return user


def make_citizen(session, municipality_code: str = "461", **overrides) -> User:
    return make_user(session, role=Role.CITIZEN, municipality_code=municipality_code, **overrides)


def make_staff(session, authority_id: str = "municipality-461", role: Role = Role.CASEWORKER, **overrides) -> User:
    return make_user(session, role=role, authority_id=authority_id, municipality_code=None, **overrides)


def make_request(session, citizen: User, **overrides) -> Request:
    n = next(_seq)
    values = {
        "citizen_id": citizen.id,
        "service_type_slug": "home-care",
        "status": RequestStatus.FILED,
        "answers": {},
        "municipality_code": citizen.municipality_code,
        "reference": f"T-{n:06d}",
        "filed_at": utcnow(),
        "filed_on": date.today(),
    }
    values.update(overrides)
    request = Request(**values)
    session.add(request)
    session.flush()
    return request


def make_case(session, request: Request, authority_id: str = "municipality-461", **overrides) -> Case:
    n = next(_seq)
    values = {
        "request_id": request.id,
        "authority_id": authority_id,
        "first_authority_id": authority_id,
        "reference": f"{request.reference}-{n}",
        "status": CaseStatus.PENDING,
    }
    values.update(overrides)
    case = Case(**values)
    session.add(case)
    session.flush()
    return case
