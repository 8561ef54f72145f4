"""The citizen card on a staff case page: who the citizen is, their other cases at the
same authority only, audited as a view of personal data and listed to the citizen."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, AuditOutcome
from portal.services import citizen_card
from portal.services.citizen_card import age_on
from tests.factories import make_case, make_citizen, make_request, make_staff


@pytest.mark.parametrize(("born", "today", "age"), [
    (date(1950, 6, 15), date(2026, 6, 14), 75),
    (date(1950, 6, 15), date(2026, 6, 15), 76),
    (date(2000, 2, 29), date(2026, 2, 28), 25),
    (date(2000, 2, 29), date(2026, 3, 1), 26),
    (None, date(2026, 1, 1), None),
])
def test_age_in_whole_years(born, today, age):
    assert age_on(born, today) == age


def citizen_with_cases(session):
    citizen = make_citizen(session, name="Karen Bøgh Jensen", birth_date=date(1941, 3, 9), email="karen@example.test",
                           locale="da", notify_by_email=True)
    here = make_case(session, make_request(session, citizen, answers={"phone": "61 23 45 67"}))
    other_here = make_case(session, make_request(session, citizen, service_type_slug="discharge-help"))
    elsewhere = make_case(session, make_request(session, citizen), authority_id="region-1084")
    worker = make_staff(session)
    session.commit()
    return citizen, here, other_here, elsewhere, worker


def test_the_case_page_says_who_the_citizen_is(client, session, login):
    citizen, here, other_here, elsewhere, worker = citizen_with_cases(session)
    login(worker)
    html = client.get(f"/cases/{here.id}").get_data(as_text=True)
    assert "Karen Bøgh Jensen" in html
    assert "karen@example.test" in html and "61 23 45 67" in html
    assert "Odense" in html  # municipality 461
    assert f'href="/cases/{other_here.id}"' in html
    assert elsewhere.reference not in html  # another authority's case stays hidden
    row = session.scalar(select(AuditEntry).where(AuditEntry.action == "citizen.view",
                                                  AuditEntry.case_id == here.id))
    assert row.subject_id == citizen.id and row.outcome == AuditOutcome.ALLOW


def test_the_view_is_listed_on_who_has_seen_my_data(client, session, login):
    citizen, here, *_rest, worker = citizen_with_cases(session)
    login(worker)
    client.get(f"/cases/{here.id}")
    login(citizen)
    html = client.get("/mine/privacy/").get_data(as_text=True)
    assert "Så hvem du er" in html
    assert here.reference in html


def test_another_authority_gets_nothing_and_a_denied_row(session):
    _citizen, here, *_rest = citizen_with_cases(session)
    stranger = make_staff(session, authority_id="region-1084")
    session.commit()
    with pytest.raises(citizen_card.CitizenNotFound):
        citizen_card.citizen_card(session, stranger, here.id)
    row = session.scalar(select(AuditEntry).where(AuditEntry.action == "citizen.view",
                                                  AuditEntry.actor_id == stranger.id))
    assert row.outcome == AuditOutcome.DENY
