"""Forms validate on the server, not in the browser: every POST form a person fills in
has ``novalidate`` (the browser's own bubbles are neither accessible nor translated),
and a refused form puts its error summary above the page's heading."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import pytest

from tests.conftest import csrf_token

NOT_FIELDS = {"hidden", "submit", "button", "reset", "image"}


class Forms(HTMLParser):
    """The POST forms of a page: their action, whether they have ``novalidate``, and
    whether someone fills something in (a field that is not hidden or a button)."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[dict] = []
        self._open: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._open = {"action": attrs.get("action"), "novalidate": "novalidate" in attrs, "fields": 0}
            self.forms.append(self._open)
        elif self._open is not None and (tag in ("select", "textarea")
                                         or tag == "input" and (attrs.get("type") or "text") not in NOT_FIELDS):
            self._open["fields"] += 1

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def fill(path: str, world) -> str:
    return path.format(**world.url_values(), citizen_id=world.citizen.id, unroutable_id=world.unroutable.id)


# (who, page) of every page with a form someone fills in.
PAGES = [
    *[("citizen", f"/ansoegninger/{{request_id}}/trin/{step}") for step in ("help", "need", "since", "relatives")],
    ("citizen", "/ansoegninger/{request_id}/bilag"),
    ("citizen", "/mine/sager/{case_id}"),
    ("citizen", "/mine/cases/{case_id}/survey"),
    ("citizen", "/mine/coordination/{offer_id}"),
    ("citizen", "/plans/{plan_id}"),
    ("citizen", "/plans/{plan_id}/own-words"),
    ("citizen", "/plans/{plan_id}/close"),
    ("caseworker", "/cases/{case_id}"),
    ("caseworker", "/plans/{plan_id}"),
    ("caseworker", "/plans/{plan_id}/goals/new"),
    ("caseworker", "/plans/{plan_id}/goals/{goal_id}/edit"),
    ("caseworker", "/plans/{plan_id}/goals/{goal_id}/measurements"),
    ("caseworker", "/plans/{plan_id}/goals/{goal_id}/actions/new"),
    ("caseworker", "/plans/{plan_id}/actions/{action_id}/edit"),
    ("caseworker", "/plans/{plan_id}/review"),
    ("caseworker", "/plans/{plan_id}/template"),
    ("caseworker", "/plans/{plan_id}/close"),
    ("coordinator", "/stats/targets"),
    ("administrator", "/admin/rules/new"),
    ("administrator", "/admin/rules/{row_id}/edit"),
    ("administrator", "/admin/requests/{unroutable_id}/route"),
]


def test_every_form_someone_fills_in_has_novalidate(client, login, world):
    missing = []
    for who, page in PAGES:
        path = fill(page, world)
        login(world.user(who))
        response = client.get(path)
        assert response.status_code == 200, (who, path, response.status_code)
        filled = [f for f in Forms(response.get_data(as_text=True)).forms if f["fields"]]
        assert filled, f"{page} has no form to fill in for {who}: take it off the list"
        missing += [f"{who} {page}: form to {f['action']}" for f in filled if not f["novalidate"]]
    assert missing == []


def disguised_file() -> dict:
    return {"action": "upload", "file-medical": (io.BytesIO(b"MZ not a pdf"), "virus.pdf")}


# (who, where, what) of a submit the page refuses, with its error summary.
REFUSED = [
    ("citizen", "/ansoegninger/{request_id}/trin/need", {"action": "continue", "need_description": " "}),
    ("citizen", "/ansoegninger/{request_id}/bilag", disguised_file),
    ("citizen", "/mine/sager/{case_id}/svar", {"body": "cpr 0101901234", "idempotency_key": "r-1"}),
    ("citizen", "/mine/cases/{case_id}/survey", {}),
    ("citizen", "/mine/coordination/{offer_id}/accept", {}),
    ("citizen", "/plans/{plan_id}/comments", {"kind": "comment", "body": ""}),
    ("citizen", "/plans/{plan_id}/own-words", {"version": "0", "situation": "Ny tekst", "wishes": ""}),
    ("citizen", "/plans/{plan_id}/close", {"version": "1", "reason": ""}),
    ("caseworker", "/cases/{case_id}/reject", {"reason": "", "to_authority": ""}),
    ("caseworker", "/plans/new?citizen_id={citizen_id}", {"lead_authority": "municipality-461"}),
    ("caseworker", "/plans/{plan_id}/goals/new", {"title": ""}),
    ("caseworker", "/plans/{plan_id}/goals/{goal_id}/edit", {"version": "0", "title": "Gå 2 km"}),
    ("caseworker", "/plans/{plan_id}/goals/{goal_id}/measurements", {"version": "1", "value": ""}),
    ("caseworker", "/plans/{plan_id}/goals/{goal_id}/actions/new", {"title": ""}),
    ("caseworker", "/plans/{plan_id}/actions/{action_id}/edit", {"version": "0", "title": "Ny"}),
    ("caseworker", "/plans/{plan_id}/review", {"review_on": "2099-01-01"}),
    ("caseworker", "/plans/{plan_id}/template", {}),
    ("coordinator", "/stats/targets", {"measure": "handover_within", "threshold_percent": "200"}),
    ("administrator", "/admin/rules/new", {"source": "not: [a rule set"}),
    ("administrator", "/admin/rules/{row_id}/edit", {"source": "not: [a rule set"}),
    ("administrator", "/admin/requests/{unroutable_id}/route", {"authority": "", "reason": "Flyttet"}),
]


@pytest.mark.parametrize(("who", "where", "what"), REFUSED, ids=[where for _, where, _ in REFUSED])
def test_a_refused_form_shows_its_error_summary_above_the_heading(client, login, world, who, where, what):
    login(world.user(who))
    form = what() if callable(what) else what
    path = fill(where, world)
    response = client.post(path, data={"csrf_token": csrf_token(client, "/"), **form})
    html = response.get_data(as_text=True)
    assert response.status_code in (400, 409, 422), (path, response.status_code)
    summary, heading = html.find('class="error-summary"'), html.find("<h1")
    assert summary != -1, f"{path}: no error summary"
    assert summary < heading, f"{path}: the error summary comes after the <h1>"
