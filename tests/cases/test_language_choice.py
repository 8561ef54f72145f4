"""A logged-in person's choice of language is theirs: their e-mails and "My data"
follow it, not only the pages of this browser session."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal import jobs
from portal.models import AuditEntry, Notification, User
from portal.services import cases
from tests.conftest import csrf_token
from tests.factories import make_citizen, make_request


def _choose(client, locale: str):
    token = csrf_token(client, "/mine")
    return client.post("/language", data={"locale": locale, "next": "/mine", "csrf_token": token})


def _language_changes(session, user) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "account.locale_changed", AuditEntry.actor_id == user.id))


def test_a_citizen_who_switches_to_english_is_mailed_in_english(app, client, session, login, smtp_server):
    _, inbox = smtp_server
    citizen = make_citizen(session)  # Danish, as every new user is
    request = make_request(session, citizen)
    session.commit()
    login(citizen)
    assert _choose(client, "en").status_code == 303
    session.expire_all()
    assert session.get(User, citizen.id).locale == "en"
    assert _language_changes(session, citizen) == 1

    cases.route_request(session, request.id)
    note = session.scalar(select(Notification).where(Notification.kind == "case_opened"))
    with app.app_context():
        assert jobs.notify(notification_id=note.id) is True
    assert inbox.messages[0]["Subject"].startswith("Your request has been received")

    html = client.get("/mine/privacy/data").get_data(as_text=True)
    assert re.search(r"<dt>Language</dt><dd>English</dd>", html)
    assert "JSON" in html and 'lang="en"' in html


def test_choosing_the_language_one_has_changes_nothing(client, session, login):
    citizen = make_citizen(session, locale="en")
    session.commit()
    login(citizen)
    assert _choose(client, "en").status_code == 303
    assert _language_changes(session, citizen) == 0
    assert _choose(client, "da").status_code == 303
    session.expire_all()
    assert session.get(User, citizen.id).locale == "da"
    row = session.scalar(select(AuditEntry).where(AuditEntry.action == "account.locale_changed"))
    assert (row.actor_id, row.subject_id, row.details) == (citizen.id, citizen.id, {"from": "en", "to": "da"})
