"""Every state-changing request of the web pages needs the session's CSRF token: a POST
without it gets 400 and changes nothing, whoever sends it.

The walk takes its routes from the app's URL map, so a new POST route is walked too;
each needs a person in ``WHO_MAY_POST`` (someone allowed to use it, so that only the
missing token can be what refuses it).
"""

from __future__ import annotations

from sqlalchemy import func, select

from portal.models import AuditEntry
from tests.conftest import csrf_token
from tests.portal.test_get_changes_nothing import snapshot

# The API authenticates with bearer tokens (no cookies, so no CSRF), and the identity
# provider's back-channel logout is a server-to-server call with a signed token.
NOT_WALKED_BLUEPRINTS = ("api",)
NOT_WALKED_ENDPOINTS = {"auth.backchannel_logout"}

# Who may use each POST route: an endpoint's own entry, else its blueprint's.
WHO_MAY_POST = {
    "citizen": "citizen",
    "coordination": "citizen",
    "feedback.survey": "citizen",
    "feedback.decline_survey": "citizen",
    "feedback.confirm": "caseworker",
    "feedback.overturn": "caseworker",
    "caseworker": "caseworker",
    "plans": "caseworker",
    "plans.consent": "citizen",
    "plans.own_words": "citizen",
    "plans.action_done": "citizen",
    "stats": "coordinator",
    "admin": "administrator",
    "jobs_admin": "administrator",
    "main.set_language": "citizen",
    "auth.logout": "citizen",
    "auth.stay": "citizen",
}
# What a filled-in form would send (without the token), so a view that skipped the
# check would have something to act on.
FORM = {"version": "1", "status": "in_progress", "assignee": "", "kind": "suspend", "days": "3",
        "deadline_reason": "Venter", "body": "Hej", "reason": "Forkert myndighed", "to_authority": "region-1083",
        "authority": "municipality-461", "give": "0", "title": "Nyt mål", "locale": "en", "next": "/",
        "measure": "decided_within_target", "threshold_percent": "90", "due_on": "2027-01-01",
        "source": "x", "satisfaction": "5", "consent": "municipality-461", "answer": "Ja", "action": "continue"}


def post_rules(app) -> list:
    return sorted((r for r in app.url_map.iter_rules()
                   if (r.methods or set()) - {"GET", "HEAD", "OPTIONS"}
                   and r.endpoint.split(".")[0] not in NOT_WALKED_BLUEPRINTS
                   and r.endpoint not in NOT_WALKED_ENDPOINTS), key=lambda r: r.rule)


def who_may_post(endpoint: str) -> str | None:
    return WHO_MAY_POST.get(endpoint) or WHO_MAY_POST.get(endpoint.split(".")[0])


def audit_rows(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry))


def test_every_post_without_a_csrf_token_is_refused_and_changes_nothing(app, client, login, session, world):
    rules = post_rules(app)
    assert [r.endpoint for r in rules if who_may_post(r.endpoint) is None] == [], \
        "name who may use the new POST route in WHO_MAY_POST"
    values = world.url_values()
    assert [r.rule for r in rules if not set(r.arguments) <= set(values)] == [], \
        "give the new route's URL arguments a value in World.url_values"
    walked, problems = set(), []
    for rule in rules:
        login(world.user(who_may_post(rule.endpoint)))
        path = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
        for method in sorted((rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            before, rows = snapshot(session), audit_rows(session)
            response = client.open(path, method=method, data=FORM)
            if response.status_code != 400:
                problems.append(f"{method} {path}: {response.status_code}, expected 400")
            changed = [table for table, digest in snapshot(session).items() if before[table] != digest]
            if changed or audit_rows(session) != rows:
                problems.append(f"{method} {path}: changed {changed or 'the audit log'}")
            walked.add(rule.endpoint)
    assert problems == []
    # Every state-changing route outside the API and the back-channel logout was walked.
    every = {r.endpoint for r in app.url_map.iter_rules() if (r.methods or set()) - {"GET", "HEAD", "OPTIONS"}}
    assert walked == {e for e in every
                      if e.split(".")[0] not in NOT_WALKED_BLUEPRINTS and e not in NOT_WALKED_ENDPOINTS}
    assert len(walked) >= 40


def test_the_same_post_with_the_token_does_change_something(client, login, session, world):
    """The walk above proves something only if its requests would act when allowed."""
    login(world.caseworker)
    token = csrf_token(client, f"/cases/{world.case.id}")
    before = snapshot(session)
    response = client.post(f"/cases/{world.case.id}/message", data={**FORM, "csrf_token": token})
    assert response.status_code == 303
    assert snapshot(session)["messages"] != before["messages"]
