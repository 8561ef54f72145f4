"""One coordinated plan in a real browser: a citizen in Aarhus after hospital
discharge, caseworkers at Region Midtjylland and Aarhus Kommune, consent and its
withdrawal, live updates, and axe-core on the plan pages in both languages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import AuditEntry, AuditOutcome
from tests.browser.conftest import assert_accessible
from tests.factories import make_case, make_citizen, make_request, make_staff

pytestmark = pytest.mark.browser

REGION, AARHUS = "region-1082", "municipality-751"


def log_in(server, context, user_id: int) -> None:
    """Give the browser context a session for ``user_id``, made by the app's own
    session interface (the login flow itself is tested elsewhere)."""
    client = server.app.test_client()
    with client.session_transaction() as sess:
        sess["user_id"] = user_id
    name = server.app.config["SESSION_COOKIE_NAME"]
    context.add_cookies([{"name": name, "value": client.get_cookie(name).value, "url": server.url}])


def denied_rows(server) -> list[AuditEntry]:
    with server.session() as session:
        return list(session.scalars(
            select(AuditEntry).where(AuditEntry.action == "plan.view", AuditEntry.outcome == AuditOutcome.DENY)
            .order_by(AuditEntry.id)
        ))


@pytest.fixture
def people(server):
    with server.session() as session:
        citizen = make_citizen(session, municipality_code="751", name="Ane Aarhus")
        request = make_request(session, citizen, service_type_slug="hospital-discharge")
        make_case(session, request, REGION, assignment_index=0, internal_note="Regionens interne note")
        make_case(session, request, AARHUS, assignment_index=1, internal_note="Kommunens interne note")
        region = make_staff(session, REGION, name="Rita Region")
        municipality = make_staff(session, AARHUS, name="Mads Kommune")
        session.commit()
        return {"citizen": citizen.id, "region": region.id, "municipality": municipality.id}


@pytest.fixture
def server(live_server_factory):
    return live_server_factory(PLAN_POLL_SECONDS=1)


def add_goal_and_action(page, plan_url: str, goal: str, action: str, responsible_label: str, axe: bool = True) -> None:
    page.goto(plan_url)
    page.get_by_role("link", name="Tilføj et mål").click()
    if axe:  # axe-core runs as JavaScript: not in a context without it
        assert_accessible(page)
    page.get_by_label("Hvad er målet?").fill(goal)
    page.get_by_label("Hvordan måles fremskridt?").fill("Meter uden pause")
    page.locator("#baseline").fill("100")
    page.locator("#target_value").fill("1000")
    page.get_by_label("Nås senest (dato)").fill("2027-03-01")
    page.get_by_label("Hvem har aftalt målet?").fill("Ane og holdet")
    page.get_by_role("button", name="Tilføj målet").click()
    page.get_by_role("link", name=re.compile(f"Tilføj en handling – {goal}")).click()
    if axe:
        assert_accessible(page)
    page.get_by_label("Hvad skal der gøres?").fill(action)
    page.get_by_label(responsible_label, exact=True).check()
    page.locator("#due_on").fill("2026-12-15")
    page.get_by_role("button", name="Gem handlingen").click()
    expect(page.get_by_role("cell", name=action, exact=True)).to_be_visible()


def test_one_plan_for_region_and_municipality_with_consent_and_withdrawal(server, people, browser):
    citizen_ctx = browser.new_context(locale="da-DK")
    region_ctx = browser.new_context(locale="da-DK")
    municipality_ctx = browser.new_context(locale="da-DK", java_script_enabled=False)
    try:
        log_in(server, citizen_ctx, people["citizen"])
        log_in(server, region_ctx, people["region"])
        log_in(server, municipality_ctx, people["municipality"])
        citizen = citizen_ctx.new_page()

        # The citizen starts the plan and consents for both authorities.
        citizen.goto(server.url + "/plans")
        assert_accessible(citizen)
        citizen.get_by_role("link", name="Opret din plan").click()
        citizen.get_by_role("button", name="Opret planen").click()  # no consent: an error
        expect(citizen).to_have_title(re.compile("^Fejl:"))
        assert_accessible(citizen)
        citizen.get_by_role("checkbox", name="Region Midtjylland").check()
        citizen.get_by_role("checkbox", name="Aarhus Kommune").check()
        assert citizen.get_by_role("radio", name="Aarhus Kommune").is_checked()  # lead by default
        citizen.get_by_label("Din situation med dine egne ord").fill("Jeg er kommet hjem efter en hofteoperation.")
        citizen.get_by_label("Hvad ønsker du?").fill("At kunne gå til bageren selv.")
        citizen.get_by_role("button", name="Opret planen").click()
        expect(citizen.get_by_role("heading", level=1)).to_have_text("Din plan")
        plan_url = citizen.url
        assert_accessible(citizen)

        # Caseworkers of both authorities add a goal and an action each (the
        # municipality without JavaScript).
        region = region_ctx.new_page()
        add_goal_and_action(region, plan_url, "Gå 1 km", "Genoptræningsplan fra hospitalet", "Region Midtjylland")
        region_html = region.content()
        assert "Regionens interne note" in region_html and "Kommunens interne note" not in region_html

        # The citizen's open page shows the region's goal without reloading.
        citizen.get_by_role("heading", name="Gå 1 km").wait_for(timeout=10_000)

        municipality = municipality_ctx.new_page()
        add_goal_and_action(municipality, plan_url, "Klare mig selv derhjemme", "Hjemmehjælp vurderet",
                            "Aarhus Kommune", axe=False)
        assert "Regionens interne note" not in municipality.content()

        citizen.reload()
        for text in ("Gå 1 km", "Klare mig selv derhjemme", "Genoptræningsplan fra hospitalet", "Hjemmehjælp vurderet"):
            expect(citizen.get_by_text(text, exact=True).first).to_be_visible()
        assert "interne note" not in citizen.content()
        assert_accessible(citizen)

        # Withdrawing consent for the region removes its access.
        citizen.get_by_role("link", name="Hvem må se din plan").click()
        assert_accessible(citizen)
        citizen.get_by_role("button", name="Træk samtykke tilbage for Region Midtjylland").click()
        expect(citizen.get_by_text("Region Midtjylland har ikke længere adgang til din plan")).to_be_visible()
        # The region's open page: its next poll is refused (404, audited), and it
        # stops polling instead of asking again every second.
        region.locator("#plan-live-status").get_by_text("Siden opdateres ikke længere automatisk").wait_for(
            timeout=10_000)
        expect(region.locator("#announcer")).to_have_text(re.compile("Siden opdateres ikke længere automatisk"))
        refused = denied_rows(server)
        assert refused and {row.actor_id for row in refused} == {people["region"]}
        region.wait_for_timeout(2500)
        assert len(denied_rows(server)) == len(refused)
        response = region.goto(plan_url)
        assert response.status == 404
        assert [row.actor_id for row in denied_rows(server)] == [people["region"]] * (len(refused) + 1)
        municipality.goto(plan_url)
        expect(municipality.get_by_role("heading", name="Klare mig selv derhjemme")).to_be_visible()
    finally:
        for ctx in (citizen_ctx, region_ctx, municipality_ctx):
            ctx.close()


@pytest.mark.parametrize("language", ["Dansk", "English"])
def test_plan_pages_pass_axe_in_both_languages(server, people, browser, language):
    from portal.services import plans as svc

    with server.session() as session:
        from portal.models import User

        citizen = session.get(User, people["citizen"])
        plan = svc.start_plan(session, citizen, consent_to=[REGION, AARHUS], situation="Hjemme igen",
                              template_slug="hospital-discharge")
        plan_id = plan.id
        action_id = plan.goals[0].actions[0].id
        goal_id = plan.goals[0].id
    pages = {
        "citizen": ["/plans", f"/plans/{plan_id}", f"/plans/{plan_id}/consent", f"/plans/{plan_id}/own-words",
                    f"/plans/{plan_id}/print"],
        "municipality": [f"/plans/{plan_id}", f"/plans/{plan_id}/goals/new", f"/plans/{plan_id}/actions/{action_id}/edit",
                         f"/plans/{plan_id}/goals/{goal_id}/measurements", f"/plans/{plan_id}/goals/{goal_id}/edit",
                         f"/plans/{plan_id}/review",
                         f"/plans/{plan_id}/template", "/plans"],
    }
    for who, paths in pages.items():
        ctx = browser.new_context(locale="da-DK")
        try:
            log_in(server, ctx, people[who])
            page = ctx.new_page()
            page.goto(server.url + paths[0])
            if language == "English":
                page.get_by_role("button", name="English").click()
                expect(page.locator("html")).to_have_attribute("lang", "en")
            for path in paths:
                page.goto(server.url + path)
                assert_accessible(page)
            # Error states too: an empty goal form, and an edit conflict.
            if who == "municipality":
                page.goto(server.url + f"/plans/{plan_id}/goals/new")
                page.locator("form[novalidate] button[type=submit]").click()
                expect(page.locator(".error-summary")).to_be_visible()
                assert_accessible(page)
                edit = server.url + f"/plans/{plan_id}/actions/{action_id}/edit"
                other = ctx.new_page()
                page.goto(edit)
                other.goto(edit)
                other.locator("#title").fill("Gemt først")
                other.locator("form[novalidate] button[type=submit]").click()
                page.locator("#title").fill("Gemt bagefter")
                page.locator("form[novalidate] button[type=submit]").click()
                expect(page.locator("#conflict-title")).to_be_visible()
                expect(page).to_have_title(re.compile("^(Fejl|Error):"))
                assert_accessible(page)
        finally:
            ctx.close()


@pytest.mark.parametrize("language", ["Dansk", "English"])
def test_the_citizen_ends_the_plan_and_the_caseworkers_open_page_shows_it(server, people, browser, language):
    from portal.services import plans as svc

    with server.session() as session:
        from portal.models import User

        plan = svc.start_plan(session, session.get(User, people["citizen"]), consent_to=[REGION, AARHUS],
                              situation="Hjemme igen", template_slug="hospital-discharge")
        plan_url = f"{server.url}/plans/{plan.id}"
    english = language == "English"
    citizen_ctx = browser.new_context(locale="da-DK")
    staff_ctx = browser.new_context(locale="da-DK")
    try:
        log_in(server, citizen_ctx, people["citizen"])
        log_in(server, staff_ctx, people["municipality"])
        staff = staff_ctx.new_page()
        staff.goto(plan_url)
        expect(staff.get_by_role("link", name=re.compile("^Rediger")).first).to_be_visible()
        citizen = citizen_ctx.new_page()
        citizen.goto(plan_url)
        if english:
            citizen.get_by_role("button", name="English").click()
            expect(citizen.locator("html")).to_have_attribute("lang", "en")
        citizen.get_by_role("link", name="End your plan" if english else "Afslut din plan").click()
        assert_accessible(citizen)
        end = "End your plan" if english else "Afslut din plan"
        citizen.get_by_role("button", name=end).click()  # no reason: an error, focused
        expect(citizen).to_have_title(re.compile("^(Error|Fejl):"))
        expect(citizen.locator(".error-summary")).to_be_focused()
        assert_accessible(citizen)
        citizen.get_by_label("I no longer want the plan" if english else "Jeg ønsker ikke længere planen").check()
        citizen.get_by_role("button", name=end).click()
        expect(citizen.get_by_role("heading", name="This plan has ended" if english else "Planen er afsluttet")).to_be_visible()
        expect(citizen.get_by_role("link", name=end)).to_have_count(0)
        assert_accessible(citizen)
        # The caseworker's open page learns it from its next poll; its edit links go.
        expect(staff.get_by_role("heading", name="Planen er afsluttet")).to_be_visible(timeout=10_000)
        expect(staff.get_by_role("link", name=re.compile("^Rediger"))).to_have_count(0)
        assert_accessible(staff)
    finally:
        citizen_ctx.close()
        staff_ctx.close()
