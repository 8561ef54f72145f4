"""Complex needs, coordinated early: offers after routing to several authorities, for
open cases at two or more, or on the citizen's request; lead by rule; consent; one plan
proposed through the plans service; a joint meeting; figures for coordinators."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from portal import jobs
from portal.models import (
    AuditEntry,
    CoordinationOffer,
    Notification,
    Plan,
    PlanComment,
    RequestStatus,
    Role,
)
from portal.redis_conn import get_redis
from portal.services import cases, coordination
from portal.services.outbox import add_job, relay
from tests.conftest import csrf_token
from tests.factories import make_case, make_citizen, make_request, make_staff
from tests.support.pages import assert_error_links_resolve

REGION = "region-1083"  # Region Syddanmark, Odense's region before and after 2027
M461 = "municipality-461"


def discharge(session, citizen=None):
    citizen = citizen or make_citizen(session, municipality_code="461")
    request = make_request(session, citizen, service_type_slug="hospital-discharge",
                           answers={"discharged_on": "2026-11-20", "hospital_name": "OUH"})
    session.commit()
    return request, citizen


def test_the_route_job_offers_a_coordinated_assessment_when_two_authorities_are_involved(app, session):
    request, citizen = discharge(session)
    add_job(session, jobs.route_request, request_id=request.id)
    session.commit()
    relay(session, get_redis(app))
    with app.app_context():
        SimpleWorker(["default"], connection=get_redis(app)).work(burst=True)
    session.expire_all()
    offer = session.scalar(select(CoordinationOffer).where(CoordinationOffer.request_id == request.id))
    assert offer.reason == "several_authorities" and offer.status == "offered"
    assert set(offer.authority_ids) == {REGION, M461}
    assert (offer.lead_authority_id, offer.lead_rule_id) == (M461, "municipality-leads")
    assert session.scalar(select(Notification).where(Notification.key == f"coordination-offer:{offer.id}"))
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "coordination.offered")).subject_id == citizen.id


def test_one_offer_per_citizen_while_it_is_open(session):
    request, citizen = discharge(session)
    cases.route_request(session, request.id)
    first = coordination.offer_if_complex(session, request.id)
    assert coordination.offer_if_complex(session, request.id).id == first.id
    second_request, _ = discharge(session, citizen)
    cases.route_request(session, second_request.id)
    assert coordination.offer_if_complex(session, second_request.id) is None
    assert coordination.ask(session, citizen).id == first.id


def test_open_cases_at_two_authorities_lead_to_an_offer(session):
    citizen = make_citizen(session, municipality_code="461")
    earlier = make_request(session, citizen, service_type_slug="housing-benefit", status=RequestStatus.ROUTED)
    make_case(session, earlier, authority_id="state-udbetaling-danmark")
    request = make_request(session, citizen, service_type_slug="home-care")
    session.commit()
    cases.route_request(session, request.id)
    offer = coordination.offer_if_complex(session, request.id)
    assert offer.reason == "open_cases" and set(offer.authority_ids) == {M461, "state-udbetaling-danmark"}
    assert offer.lead_authority_id == M461


def test_a_single_authority_gets_no_offer(session):
    citizen = make_citizen(session)
    request = make_request(session, citizen, service_type_slug="home-care")
    session.commit()
    cases.route_request(session, request.id)
    assert coordination.offer_if_complex(session, request.id) is None


def test_accepting_asks_consent_and_proposes_one_plan_with_a_joint_meeting(session, client, login):
    request, citizen = discharge(session)
    cases.route_request(session, request.id)
    offer = coordination.offer_if_complex(session, request.id)
    login(citizen)
    receipt = client.get(f"/ansoegninger/{request.id}").get_data(as_text=True)
    assert f'href="/mine/coordination/{offer.id}"' in receipt
    page = client.get(f"/mine/coordination/{offer.id}").get_data(as_text=True)
    assert "Odense Kommune" in page and "har ansvaret for udredningen" in page
    token = csrf_token(client, f"/mine/coordination/{offer.id}")
    refused = client.post(f"/mine/coordination/{offer.id}/accept", data={"csrf_token": token, "consent": REGION})
    assert refused.status_code == 400 and "<title>Fejl:" in refused.get_data(as_text=True)
    assert session.get(CoordinationOffer, offer.id).status == "offered"
    ok = client.post(f"/mine/coordination/{offer.id}/accept", data={
        "csrf_token": token, "consent": [REGION, M461], "meeting": "1", "wishes": "Klare mig selv"})
    plan = session.scalar(select(Plan).where(Plan.citizen_id == citizen.id))
    assert ok.status_code == 303 and ok.headers["Location"].endswith(f"/plans/{plan.id}")
    offer = session.get(CoordinationOffer, offer.id)
    assert (offer.status, offer.plan_id) == ("accepted", plan.id)
    assert offer.meeting_requested_at is not None and offer.plan_at >= offer.offered_at
    assert plan.lead_authority_id == M461 and plan.wishes == "Klare mig selv"
    assert {p.authority_id for p in plan.participants if p.has_consent} == {REGION, M461}
    assert plan.goals, "the hospital-discharge template proposes goals and actions"
    comment = session.scalar(select(PlanComment).where(PlanComment.plan_id == plan.id))
    assert "fælles møde" in comment.body
    assert client.get(f"/plans/{plan.id}").status_code == 200
    again = client.post(f"/mine/coordination/{offer.id}/accept", data={"csrf_token": token, "consent": [M461]})
    assert again.status_code == 400
    assert assert_error_links_resolve(again.get_data(as_text=True)) == ["offer-answer"]


def test_declining_and_asking_from_the_overview(session, client, login):
    request, citizen = discharge(session)
    cases.route_request(session, request.id)
    offer = coordination.offer_if_complex(session, request.id)
    login(citizen)
    overview = client.get("/mine").get_data(as_text=True)
    assert f'href="/mine/coordination/{offer.id}"' in overview
    token = csrf_token(client, "/mine")
    assert client.post(f"/mine/coordination/{offer.id}/decline", data={"csrf_token": token}).status_code == 303
    assert session.get(CoordinationOffer, offer.id).status == "declined"
    asked = client.post("/mine/coordination/ask", data={"csrf_token": token})
    new = session.scalar(select(CoordinationOffer).where(CoordinationOffer.reason == "citizen_asked"))
    assert asked.status_code == 303 and new.citizen_id == citizen.id and new.lead_authority_id == M461


def test_another_citizens_offer_is_not_found(session, client, login):
    request, _ = discharge(session)
    cases.route_request(session, request.id)
    offer = coordination.offer_if_complex(session, request.id)
    stranger = make_citizen(session)
    session.commit()
    login(stranger)
    assert client.get(f"/mine/coordination/{offer.id}").status_code == 404


@pytest.fixture
def coordinator(session):
    user = make_staff(session, authority_id=M461, role=Role.COORDINATOR)
    session.commit()
    return user


def test_coordinators_see_offered_accepted_and_days_until_the_plan(app, session, client, login, coordinator):
    app.config["STATS_MIN_COUNT"] = 2
    for days in (2, 4):
        request, citizen = discharge(session)
        cases.route_request(session, request.id)
        offer = coordination.offer_if_complex(session, request.id)
        offer.offered_at = offer.offered_at - timedelta(days=days)
        session.commit()
        coordination.accept(session, citizen, offer.id, consent_to=[REGION, M461])
    request, citizen = discharge(session)
    cases.route_request(session, request.id)
    coordination.decline(session, citizen, coordination.offer_if_complex(session, request.id).id)
    figures = coordination.figures(session, min_count=2)
    assert (figures.offered, figures.accepted, figures.declined, figures.with_plan) == (3, 2, 1, 2)
    assert 2.9 < figures.median_days_to_plan < 3.1
    assert coordination.figures(session, min_count=3).median_days_to_plan is None
    login(coordinator)
    html = client.get("/stats/").get_data(as_text=True)
    assert "Borgere, der fik tilbudt en koordineret udredning" in html and "<dd>3</dd>" in html
    assert "Koordinerede udredninger" not in client.get("/results").get_data(as_text=True)


def test_a_plan_started_later_by_a_caseworker_counts_for_the_accepted_offer(session):
    citizen = make_citizen(session, municipality_code="461")
    request = make_request(session, citizen, service_type_slug="home-care")
    session.commit()
    cases.route_request(session, request.id)
    offer = coordination.ask(session, citizen)
    coordination.accept(session, citizen, offer.id, consent_to=[M461])
    assert session.get(CoordinationOffer, offer.id).plan_id is None  # one authority: no plan yet
    assert coordination.figures(session, min_count=1).with_plan == 0
    second = make_request(session, citizen, service_type_slug="housing-benefit")
    session.commit()
    cases.route_request(session, second.id)
    from portal.services import plans

    plans.start_plan(session, citizen, consent_to=[M461])
    figures = coordination.figures(session, min_count=1)
    assert figures.with_plan == 1 and figures.median_days_to_plan is not None


# --- accepting is one transaction, and once -------------------------------------------------


class CommentRefused(Exception):
    """A failure injected into the comment's INSERT."""


def test_accepting_is_one_transaction_so_a_failed_meeting_comment_leaves_no_plan(session):
    """The offer's answer, the plan, its link and the meeting comment land together or
    not at all: a failure at the last step (the comment) leaves the offer unanswered
    and no plan. Before, the plan had been committed before the comment was written."""
    from sqlalchemy import event

    request, citizen = discharge(session)
    cases.route_request(session, request.id)
    offer = coordination.offer_if_complex(session, request.id)
    session.commit()

    def refuse_comment(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO PLAN_COMMENTS"):
            raise CommentRefused()

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", refuse_comment)
    try:
        with pytest.raises(CommentRefused):
            coordination.accept(session, citizen, offer.id, consent_to=[REGION, M461], meeting=True)
    finally:
        event.remove(connection, "before_cursor_execute", refuse_comment)
    session.rollback()
    assert session.get(CoordinationOffer, offer.id).status == "offered"
    assert session.scalars(select(Plan).where(Plan.citizen_id == citizen.id)).all() == []
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "coordination.accepted")) is None


@pytest.fixture
def served(live_database_url, redis_url, tmp_path):
    """An app on a database of its own whose sessions commit for real (for two
    sessions at once), and its sessionmaker."""
    from portal import create_app, redis_conn
    from tests.conftest import make_config

    app = create_app(make_config(live_database_url, redis_url, tmp_path))
    yield app, app.extensions["db"].sessionmaker
    redis_conn.close(app)
    app.extensions["db"].engine.dispose()


def _at_once(served, first, second, *, hold_until_second_runs: str):
    """Run ``first`` and, 0.2 s later, ``second``, each in a thread with a session of
    its own (``served``). ``first`` holds its
    commit until ``second`` is about to run a statement containing
    ``hold_until_second_runs`` (or a second has passed). Returns their outcomes."""
    import threading
    import time

    from sqlalchemy import event

    reached = threading.Event()
    outcome = {}

    def run(name, work, hold):
        def target():
            with app.app_context(), maker() as session:
                if hold:
                    event.listen(session, "before_commit", lambda _s: reached.wait(1))
                else:
                    event.listen(session.connection(), "before_cursor_execute",
                                 lambda *a: reached.set() if hold_until_second_runs in a[2] else None)
                try:
                    outcome[name] = work(session)
                except Exception as exc:  # noqa: BLE001 - reported by the caller's assertion
                    outcome[name] = exc
        return threading.Thread(target=target)

    app, maker = served
    threads = [run("first", first, True), run("second", second, False)]
    threads[0].start()
    time.sleep(0.2)
    threads[1].start()
    for thread in threads:
        thread.join(60)
    return outcome


def _offered(served):
    """A citizen with cases at the region and Odense and an open offer, committed."""
    app, maker = served
    with app.app_context(), maker() as setup:
        request, citizen = discharge(setup)
        cases.route_request(setup, request.id)
        offer = coordination.offer_if_complex(setup, request.id)
        worker = make_staff(setup, authority_id=M461)
        setup.commit()
        return citizen.id, offer.id, worker.id


def test_two_accepts_at_once_make_one_plan(served):
    """A double POST: the second waits for the offer row and is told the offer is
    answered. Without the lock (PostgreSQL) both saw it open and made two plans."""
    from portal.models import User

    citizen_id, offer_id, _ = _offered(served)

    def accept(session):
        coordination.accept(session, session.get(User, citizen_id), offer_id, consent_to=[REGION, M461])
        return "accepted"

    outcome = _at_once(served, accept, accept, hold_until_second_runs="coordination_offers")
    refused = [o for o in outcome.values() if isinstance(o, coordination.OfferInvalid) and "offer" in o.errors]
    assert sorted(outcome) == ["first", "second"] and "accepted" in outcome.values() and len(refused) == 1, outcome
    with served[1]() as check:
        plans = check.scalars(select(Plan).where(Plan.citizen_id == citizen_id)).all()
        assert len(plans) == 1 and check.get(CoordinationOffer, offer_id).plan_id == plans[0].id


def test_a_plan_started_by_a_caseworker_at_the_same_moment_is_linked_not_doubled(served):
    """The caseworker's plan is not yet committed when the citizen accepts, so the
    citizen's transaction sees none and proposes its own. The index of one active
    plan per citizen refuses it (PostgreSQL), and accepting starts over and links the
    caseworker's plan."""
    from portal.models import User
    from portal.services import plans

    citizen_id, offer_id, worker_id = _offered(served)

    def start(session):
        return plans.start_plan(session, session.get(User, worker_id), citizen_id=citizen_id,
                                staff_consent_confirmed=True).id

    def accept(session):
        return coordination.accept(session, session.get(User, citizen_id), offer_id,
                                   consent_to=[REGION, M461]).plan_id

    outcome = _at_once(served, start, accept, hold_until_second_runs="INSERT INTO plans")
    with served[1]() as check:
        [plan_id] = [p.id for p in check.scalars(select(Plan).where(Plan.citizen_id == citizen_id))]
        offer = check.get(CoordinationOffer, offer_id)
        assert (offer.status, offer.plan_id) == ("accepted", plan_id)
    assert outcome["second"] == plan_id, outcome
    # The caseworker's start went first (it held its commit), unless the threads ran
    # the other way round, when it is told there is already a plan.
    assert outcome["first"] == plan_id or isinstance(outcome["first"], plans.PlanInvalid), outcome


def test_the_database_allows_one_active_plan_per_citizen_after_db_upgrade(tmp_path, redis_url):
    """``indgang db upgrade`` on an empty database creates the partial unique index:
    a second active plan is refused, a closed one beside it is not."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import IntegrityError

    from portal import create_app
    from portal.db import open_session
    from tests.conftest import make_config

    app = create_app(make_config(f"sqlite:///{tmp_path / 'fresh.db'}", redis_url, tmp_path))
    try:
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        engine = app.extensions["db"].engine
        [index] = [i for i in inspect(engine).get_indexes("plans") if i["name"] == "uq_plans_one_active_per_citizen"]
        assert index["column_names"] == ["citizen_id"] and index["unique"]
        with app.app_context(), open_session(app) as session:
            citizen = make_citizen(session)

            def plan(status):
                session.add(Plan(citizen_id=citizen.id, lead_authority_id=M461, review_on=date(2027, 5, 1),
                                 status=status))
                session.flush()

            plan("closed")
            plan("active")
            with pytest.raises(IntegrityError):
                plan("active")
    finally:
        app.extensions["db"].engine.dispose()
