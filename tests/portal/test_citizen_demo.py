"""Demo citizens get a draft and a filed request, once."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.models import OutboxMessage, Request, RequestStatus
from portal.services.demo import load_demo_requests
from tests.factories import TEST_ISSUER, make_citizen, make_staff


def test_demo_requests_are_made_once_per_citizen(session):
    citizen = make_citizen(session, municipality_code="461")
    make_citizen(session, municipality_code=None)  # no municipality: nothing to file
    make_staff(session)
    session.commit()
    # As in ``indgang demo load``: an app context, no HTTP request.
    assert load_demo_requests(session, TEST_ISSUER) == 2
    assert load_demo_requests(session, TEST_ISSUER) == 0
    statuses = sorted(r.status.value for r in session.scalars(select(Request).where(Request.citizen_id == citizen.id)))
    assert statuses == [RequestStatus.DRAFT.value, RequestStatus.FILED.value]
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
