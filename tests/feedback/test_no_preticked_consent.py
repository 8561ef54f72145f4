"""Consent is the citizen's own act: no consent control is checked when a page first shows it."""

from __future__ import annotations

import pytest

from portal.services import cases, coordination
from tests.feedback.test_coordination import discharge
from tests.support.consent import checked_consent_controls


def test_the_finder_sees_a_checked_consent_box():
    assert checked_consent_controls('<input type="checkbox" name="consent" value="a" checked>')
    assert not checked_consent_controls('<input type="checkbox" name="consent" value="a">')
    assert not checked_consent_controls('<input type="checkbox" name="meeting" checked>')


@pytest.mark.parametrize("locale", ["da", "en"])
def test_the_coordination_offer_and_the_plan_start_tick_nothing(session, client, login, locale):
    request, citizen = discharge(session)
    cases.route_request(session, request.id)
    offer = coordination.offer_if_complex(session, request.id)
    login(citizen)
    headers = {"Accept-Language": locale}
    page = client.get(f"/mine/coordination/{offer.id}", headers=headers).get_data(as_text=True)
    assert 'name="consent"' in page
    assert checked_consent_controls(page) == []
    start = client.get("/plans/new", headers=headers)
    assert start.status_code == 200 and 'name="consent"' in start.get_data(as_text=True)
    assert checked_consent_controls(start.get_data(as_text=True)) == []
