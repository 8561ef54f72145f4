"""A demo citizen of Odense files a home-care request in Chromium: a missing answer on
the way, an attachment, "check your answers", the receipt, and the overview showing the
request going to Odense Kommune with the explanation. With JavaScript and without, and
axe-core on every page and error state in Danish and English."""

from __future__ import annotations

import re

import pytest

from portal.models import Request, RequestStatus, Role, User
from tests.browser.conftest import assert_accessible, session_cookie

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64

TEXT = {
    "da": {
        "service": "Hjemmehjælp", "practical": "Praktisk hjælp", "continue": "Fortsæt", "odense": "Odense Kommune",
        "error": "Fejl:", "enter": "Skriv, hvad du har svært ved", "yes": "Ja", "send": "Send ansøgning",
        "check": "Tjek dine svar", "sent": "Ansøgningen er sendt", "explanation": "Din ansøgning går til Odense Kommune",
        "search": "Søg", "query": "rengøring", "start": "Start nu", "overview": "Min oversigt",
        "file_error": "Filen skal være en PDF, PNG eller JPEG",
    },
    "en": {
        "service": "Home care", "practical": "Practical help", "continue": "Continue", "odense": "Odense Municipality",
        "error": "Error:", "enter": "Enter what you find difficult", "yes": "Yes", "send": "Send request",
        "check": "Check your answers", "sent": "Request sent", "explanation": "Your request goes to Odense Kommune",
        "search": "Search", "query": "cleaning", "start": "Start now", "overview": "My overview",
        "file_error": "The file must be a PDF, PNG or JPEG",
    },
}


def _demo_citizen(live) -> int:
    """Karen Holm Jensen, the demo citizen of Odense (municipality 461)."""
    with live.session() as session:
        user = User(issuer="http://127.0.0.1:5001", subject="7c1e4a52-3f0e-4d1b-9a57-0b2d61f0a461",
                    role=Role.CITIZEN, name="Karen Holm Jensen", municipality_code="461")
        session.add(user)
        session.commit()
        return user.id


def _log_in(live, page, user_id: int) -> None:
    """Give the browser a logged-in session cookie (the OIDC login is tested elsewhere)."""
    page.context.add_cookies([session_cookie(live, user_id)])


def _file_home_care(live, page, tmp_path, language: str, check_axe: bool) -> str:
    """Walk the whole flow; returns the reference number from the receipt."""
    t = TEXT[language]

    def axe():
        if check_axe:
            assert_accessible(page)

    page.goto(live.url + "/tjenester")
    if language == "en":
        page.get_by_role("button", name="English").click()
    axe()
    page.get_by_label(re.compile("Search in plain words|Søg med almindelige ord")).fill(t["query"])
    page.get_by_role("button", name=t["search"], exact=True).click()
    axe()
    page.get_by_role("link", name=t["service"], exact=True).first.click()
    axe()
    page.get_by_role("button", name=t["start"]).click()

    # Question 1: a choice.
    axe()
    page.get_by_label(t["practical"]).check()
    page.get_by_role("button", name=t["continue"], exact=True).click()

    # Question 2: sent empty first, to see the error summary and the inline error.
    page.get_by_role("button", name=t["continue"], exact=True).click()
    assert page.title().startswith(t["error"])
    summary = page.locator(".error-summary")
    assert t["enter"] in summary.inner_text()
    if page.context.pages and page.evaluate("typeof htmx !== 'undefined'"):
        assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    axe()
    summary.get_by_role("link").click()
    page.keyboard.type("Jeg kan ikke selv gøre rent eller handle ind.")
    page.get_by_role("button", name=t["continue"], exact=True).click()

    # Question 3: a date; question 4: yes/no.
    axe()
    page.locator("#q-need_since").fill("1 3 2026")
    page.get_by_role("button", name=t["continue"], exact=True).click()
    axe()
    page.get_by_label(t["yes"], exact=True).check()
    page.get_by_role("button", name=t["continue"], exact=True).click()

    # Attachments: a disguised file is refused, a real PDF is kept.
    axe()
    fake = tmp_path / "laegeerklaering.pdf"
    fake.write_bytes(EXE)
    page.locator("#file-medical").set_input_files(str(fake))
    page.get_by_role("button", name=t["continue"], exact=True).click()
    assert page.title().startswith(t["error"])
    assert t["file_error"] in page.locator(".error-summary").inner_text()
    axe()
    real = tmp_path / "lægeerklæring.pdf"
    real.write_bytes(PDF)
    page.locator("#file-medical").set_input_files(str(real))
    page.get_by_role("button", name=t["continue"], exact=True).click()

    # Check your answers: where it goes and why, then send.
    assert page.title().startswith(t["check"])
    main = page.locator("main").inner_text()
    assert "Karen Holm Jensen" in main and "Odense Kommune" in main
    assert t["explanation"] in main
    assert "lægeerklæring.pdf" in main
    axe()
    page.get_by_role("button", name=t["send"]).click()

    # The receipt.
    assert page.locator("h1").inner_text() == t["sent"]
    reference = page.locator(".reference").inner_text()
    assert re.fullmatch(r"IG-\d{4}-\d{6}", reference)
    assert t["explanation"] in page.locator("main").inner_text()
    axe()
    return reference


def _route_in_worker(live) -> bool:
    """Run the routing job as the worker would (relay + rq SimpleWorker, burst), if the
    real job is on this branch. Returns True when it ran."""
    from rq import SimpleWorker

    from portal import jobs
    from portal.redis_conn import get_redis
    from portal.services.outbox import relay

    if getattr(jobs.route_request, "placeholder", False):
        return False
    with live.app.app_context():
        redis = get_redis(live.app)
        with live.session() as session:
            relay(session, redis)
        SimpleWorker(["high", "default", "low"], connection=redis).work(burst=True)
    return True


def _overview_shows_odense(live, page, reference: str, language: str, check_axe: bool) -> None:
    t = TEXT[language]
    routed = _route_in_worker(live)
    page.goto(live.url + "/mine")
    assert page.locator("h1").inner_text() == t["overview"]
    card = page.locator("#my-requests > ul > li", has_text=reference)
    assert "Odense Kommune" in card.inner_text()
    assert t["explanation"] in card.inner_text()  # the worker's record (or the preview)
    if routed:
        # The worker opened the case at Odense Kommune: the overview links to it, by
        # the authority's name in the page's language.
        card.get_by_role("link", name=t["odense"]).click()
        assert t["odense"] in page.locator("main dl.summary-list").inner_text()
        if check_axe:
            assert_accessible(page)
        page.goto(live.url + "/mine")
    if check_axe:
        assert_accessible(page)
    with live.session() as session:
        request = session.query(Request).filter_by(reference=reference).one()
        assert request.status == (RequestStatus.ROUTED if routed else RequestStatus.FILED)
        assert request.municipality_code == "461"
        assert len(request.attachments) == 1


@pytest.mark.parametrize("language", ["da", "en"])
def test_demo_citizen_of_odense_files_home_care_with_javascript(live_server, page, tmp_path, language):
    _log_in(live_server, page, _demo_citizen(live_server))
    reference = _file_home_care(live_server, page, tmp_path, language, check_axe=True)
    if _route_in_worker(live_server):
        # htmx polls the receipt: the case appears without a reload.
        page.locator("#request-status h3 a", has_text=TEXT[language]["odense"]).wait_for(timeout=15000)
        assert_accessible(page)
    _overview_shows_odense(live_server, page, reference, language, check_axe=True)


def test_demo_citizen_of_odense_files_home_care_without_javascript(live_server, nojs_page, tmp_path):
    _log_in(live_server, nojs_page, _demo_citizen(live_server))
    reference = _file_home_care(live_server, nojs_page, tmp_path, "da", check_axe=False)
    # Without JavaScript the receipt offers a plain refresh link while routing runs.
    _overview_shows_odense(live_server, nojs_page, reference, "da", check_axe=False)


@pytest.mark.parametrize("language", ["da", "en"])
def test_drafts_cases_and_reply_errors_pass_axe(live_server, page, language):
    from tests.factories import make_case, make_request

    user_id = _demo_citizen(live_server)
    with live_server.session() as session:
        citizen = session.get(User, user_id)
        request = make_request(session, citizen, status=RequestStatus.ROUTED, answers={
            "help_type": "both", "need_description": "x", "need_since": "2026-03-01", "lives_alone": "no"})
        case_id = make_case(session, request).id
        session.commit()
    _log_in(live_server, page, user_id)
    page.goto(live_server.url + "/tjenester/appeal")
    if language == "en":
        page.get_by_role("button", name="English").click()
    page.get_by_role("button", name=TEXT[language]["start"]).click()
    # A date question left wrong, and "check your answers" with questions missing.
    page.locator("#q-decision_date").fill("31 2 2026")
    page.get_by_role("button", name=TEXT[language]["continue"], exact=True).click()
    assert page.title().startswith(TEXT[language]["error"])
    assert_accessible(page)
    draft_url = page.url
    page.goto(draft_url.rsplit("/trin/", 1)[0] + "/tjek")
    assert page.title().startswith(TEXT[language]["error"])
    assert_accessible(page)
    page.goto(draft_url)
    page.get_by_role("button", name=re.compile("Gem og fortsæt senere|Save and come back later")).click()
    assert page.title().startswith(TEXT[language]["overview"])
    assert_accessible(page)
    page.goto(f"{live_server.url}/mine/sager/{case_id}")
    assert_accessible(page)
    page.locator("#reply-body").fill("Mit CPR-nummer er 010190-1234")
    page.get_by_role("button", name=re.compile("Send besked|Send message")).click()
    assert page.title().startswith(TEXT[language]["error"])
    assert_accessible(page)
