"""The case jobs run by a real rq worker: routing, notifications by real SMTP,
periodic scheduling, and recovery of jobs Redis lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from portal import jobs
from portal.models import Case, Notification, OutboxMessage, OutboxStatus, RequestStatus, Role
from portal.redis_conn import get_redis
from portal.services import cases
from portal.services.outbox import add_job, relay
from portal.services.scheduler import requeue_lost, schedule_periodic
from tests.factories import make_citizen, make_request


def run_worker(app, queues=("default", "low")):
    redis = get_redis(app)
    with app.app_context():
        SimpleWorker(list(queues), connection=redis).work(burst=True)


def file_request(session, **overrides):
    citizen = make_citizen(session, **{k: v for k, v in overrides.items() if k in ("locale", "notify_by_email", "email")})
    request = make_request(session, citizen, status=RequestStatus.FILED,
                           **{k: v for k, v in overrides.items() if k not in ("locale", "notify_by_email", "email")})
    add_job(session, jobs.route_request, request_id=request.id)
    session.commit()
    return request, citizen


def test_filing_relay_worker_routes_and_mails_the_citizen_once(app, session, smtp_server):
    _, inbox = smtp_server
    request, citizen = file_request(session, locale="en")
    redis = get_redis(app)
    relay(session, redis)
    run_worker(app)  # route_request -> a notify outbox row
    relay(session, redis)
    run_worker(app)  # notify -> one e-mail
    session.expire_all()
    case = session.scalar(select(Case).where(Case.request_id == request.id))
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail["To"] == citizen.email
    assert mail["Subject"] == f"Your request has been received ({case.reference})"
    body = mail.get_content()
    assert case.reference in body and "https://indgang.test/" in body
    assert citizen.name not in body and citizen.name not in mail["Subject"]
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status != OutboxStatus.DONE)) == 0


def test_mail_is_in_the_citizens_language(app, session, smtp_server):
    _, inbox = smtp_server
    request, _ = file_request(session, locale="da")
    cases.route_request(session, request.id)
    note = session.scalar(select(Notification).where(Notification.kind == "case_opened"))
    with app.app_context():
        jobs.notify(notification_id=note.id)
    assert inbox.messages[0]["Subject"].startswith("Din henvendelse er modtaget")


def test_notify_twice_sends_once(app, session, smtp_server):
    _, inbox = smtp_server
    request, _ = file_request(session)
    cases.route_request(session, request.id)
    note = session.scalar(select(Notification).where(Notification.kind == "case_opened"))
    with app.app_context():
        assert jobs.notify(notification_id=note.id) is True
        assert jobs.notify(notification_id=note.id) is False
    assert len(inbox.messages) == 1


def test_the_notify_job_names_the_notification_by_its_key_and_sends_it_once(app, session, smtp_server):
    _, inbox = smtp_server
    request, _ = file_request(session)
    case = cases.route_request(session, request.id)[0]
    note = session.scalar(select(Notification).where(Notification.kind == "case_opened"))
    job = session.scalar(select(OutboxMessage).where(OutboxMessage.job == "portal.jobs.notify"))
    assert note.key == f"case-opened:{case.reference}" and note.case_id == case.id
    assert job.args == {"key": note.key}
    with app.app_context():
        assert jobs.notify(**job.args) is True
        assert jobs.notify(**job.args) is False
    assert len(inbox.messages) == 1 and case.reference in inbox.messages[0]["Subject"]


def test_a_citizen_without_email_notifications_gets_none(app, session, smtp_server):
    _, inbox = smtp_server
    request, _ = file_request(session, notify_by_email=False)
    cases.route_request(session, request.id)
    note = session.scalar(select(Notification).where(Notification.kind == "case_opened"))
    assert note.channel == "none" and note.status == "skipped"
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.job == "portal.jobs.notify")) == 0


def test_every_job_run_twice_leaves_one_result(app, session):
    request, _ = file_request(session)
    redis = get_redis(app)
    relay(session, redis)
    outbox_id = session.scalar(select(OutboxMessage.id).where(OutboxMessage.job == "portal.jobs.route_request"))
    with app.app_context():
        jobs.route_request(request_id=request.id, outbox_id=outbox_id)
        jobs.route_request(request_id=request.id, outbox_id=outbox_id)
        jobs.watch_deadlines()
        jobs.watch_deadlines()
    run_worker(app)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Case).where(Case.request_id == request.id)) == 1
    assert session.scalar(select(func.count()).select_from(Notification)) == 1


def test_periodic_jobs_are_enqueued_once_per_slot_by_any_number_of_relays(app):
    redis = get_redis(app)
    now = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    first = schedule_periodic(redis, now)
    assert len(first) == 2
    assert schedule_periodic(redis, now + timedelta(minutes=5)) == []
    assert Queue("low", connection=redis).count == 2
    nxt = schedule_periodic(redis, now + timedelta(hours=1))
    assert [j for j in nxt if "watch_deadlines" in j]
    run_worker(app, ("low",))


def test_outbox_rows_whose_jobs_redis_lost_are_relayed_again(app, session):
    request, _ = file_request(session)
    redis = get_redis(app)
    relay(session, redis)
    redis.flushdb()  # Redis restarted without persistence
    assert requeue_lost(session, redis, older_than=timedelta(0)) == 1
    assert relay(session, redis) == 1
    assert requeue_lost(session, redis, older_than=timedelta(0)) == 0
    run_worker(app)
    session.expire_all()
    assert session.get(type(request), request.id).status == RequestStatus.ROUTED


def test_a_finished_job_whose_commit_was_lost_is_relayed_again(app, session):
    # Jobs commit without waiting for the WAL flush on PostgreSQL; a database crash can
    # lose that commit while rq says "finished". The outbox row then is not done.
    request, _ = file_request(session)
    redis = get_redis(app)
    relay(session, redis)
    run_worker(app, ("default",))
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.job == "portal.jobs.route_request"))
    session.refresh(row)
    assert row.status == OutboxStatus.DONE
    row.status = OutboxStatus.ENQUEUED  # as if the job's commit had been lost
    session.commit()
    assert requeue_lost(session, redis, older_than=timedelta(0)) == 1
    session.refresh(row)
    assert row.status == OutboxStatus.PENDING
    assert requeue_lost(session, redis, older_than=timedelta(0)) == 0


def _reply(session, case, citizen, key):
    from portal.services.overview import reply_to_case

    assert reply_to_case(session, citizen, case, "Here is the doctor's statement.", key) == {}


def test_a_citizens_reply_is_mailed_to_the_assigned_caseworker_with_a_link_and_no_content(
        app, session, smtp_server):
    from tests.factories import make_staff

    _, inbox = smtp_server
    request, citizen = file_request(session, notify_by_email=False)
    case = cases.route_request(session, request.id)[0]
    worker = make_staff(session, authority_id=case.authority_id, email="sagsbehandler@odense.test", locale="en")
    make_staff(session, authority_id=case.authority_id, role=Role.TEAM_LEAD, email="lead@odense.test")
    case.assignee_id = worker.id
    session.commit()
    for _ in range(2):  # the same reply sent twice tells the caseworker once
        _reply(session, case, citizen, "reply-1")
    jobs_ = session.scalars(select(OutboxMessage).where(OutboxMessage.job == "portal.jobs.notify")).all()
    assert len(jobs_) == 1
    with app.app_context():
        jobs.notify(**jobs_[0].args)
    mail = inbox.messages[0]
    assert len(inbox.messages) == 1 and mail["To"] == worker.email
    assert mail["Subject"] == f"The citizen has replied ({case.reference})"
    body = mail.get_payload()
    assert f"/cases/{case.id}" in body and "doctor" not in body and citizen.name not in body


def test_a_reply_on_an_unassigned_case_goes_to_the_team_leads(session):
    from tests.factories import make_staff

    request, citizen = file_request(session, notify_by_email=False)
    case = cases.route_request(session, request.id)[0]
    leads = [make_staff(session, authority_id=case.authority_id, role=Role.TEAM_LEAD) for _ in range(2)]
    make_staff(session, authority_id=case.authority_id)  # a caseworker not on the case
    session.commit()
    _reply(session, case, citizen, "reply-2")
    told = session.scalars(select(Notification.user_id).where(Notification.kind == "citizen_replied")).all()
    assert sorted(told) == sorted(lead.id for lead in leads)


def test_a_reply_on_a_case_accepted_through_the_api_is_mailed_to_the_team_lead(app, client, session, smtp_server):
    from tests.api.conftest import get_token, new_client
    from tests.factories import make_staff

    _, inbox = smtp_server
    request, citizen = file_request(session, notify_by_email=False)
    case = cases.route_request(session, request.id)[0]
    lead = make_staff(session, authority_id=case.authority_id, role=Role.TEAM_LEAD, email="lead@odense.test")
    system = new_client(session, case.authority_id, name="Fagsystem")
    session.commit()
    token = get_token(client, system)
    accepted = client.post(f"/api/v1/cases/{case.id}/accept", headers={"Authorization": f"Bearer {token}"})
    assert accepted.status_code == 200, accepted.json
    session.expire_all()
    assert session.get(Case, case.id).assignee_id is None  # the client's service user holds no case
    _reply(session, case, citizen, "reply-api")
    notes = session.scalars(select(Notification).where(Notification.kind == "citizen_replied")).all()
    assert [(n.user_id, n.status) for n in notes] == [(lead.id, "pending")]
    with app.app_context():
        assert jobs.notify(key=notes[0].key) is True
    assert [m["To"] for m in inbox.messages] == ["lead@odense.test"]
    assert inbox.messages[0]["Subject"] == f"Borgeren har svaret ({case.reference})"


def _service_user(session, authority_id):
    from tests.api.conftest import new_client

    return new_client(session, authority_id, name="Fagsystem").client.user


def _without_email(session, authority_id):
    from tests.factories import make_staff

    return make_staff(session, authority_id=authority_id, email=None)


@pytest.mark.parametrize("assignee", [_service_user, _without_email], ids=["service user", "no e-mail"])
def test_a_reply_goes_to_the_team_leads_when_the_assignee_cannot_be_told(session, assignee):
    """Also for a case assigned to a service user before API acceptance stopped
    assigning them."""
    from tests.factories import make_staff

    request, citizen = file_request(session, notify_by_email=False)
    case = cases.route_request(session, request.id)[0]
    lead = make_staff(session, authority_id=case.authority_id, role=Role.TEAM_LEAD)
    case.assignee_id = assignee(session, case.authority_id).id
    session.commit()
    _reply(session, case, citizen, "reply-3")
    told = session.scalars(select(Notification.user_id).where(Notification.kind == "citizen_replied")).all()
    assert told == [lead.id]
