"""No GET of the API changes state: every GET route of the API, called with a bearer
token of the authority that owns the data, of another authority, and with none,
leaves the database as it was, apart from audit rows (every call is audited). Unlike a
caseworker opening the case page, reading a case through the API does not mark the
citizen's replies read: no person has read them.

Like the walk of the pages (``tests/portal/test_get_changes_nothing.py``), the routes
come from the URL map, so a new API route is walked too; a route whose arguments the
walk cannot fill fails the test until it is filled here.
"""

from __future__ import annotations

from portal.models import Message
from portal.services import webhooks
from portal.services.routing import default_rule_set
from tests.api.conftest import AARHUS, ODENSE, Api, get_token, new_client
from tests.factories import make_case, make_citizen, make_request
from tests.portal.test_get_changes_nothing import snapshot

# Only audit rows may change: no exemption for the read receipts of replies.
AUDIT_ONLY = {"audit_log": None}


def test_no_api_get_changes_anything_but_audit_rows(app, client, session):
    citizen = make_citizen(session)
    case = make_case(session, make_request(session, citizen), ODENSE)
    session.add(Message(case_id=case.id, sender_id=citizen.id, to_citizen=False, body="Her er papirerne."))
    session.commit()
    odense, aarhus = new_client(session, ODENSE, name="Odense"), new_client(session, AARHUS, name="Aarhus")
    hook = webhooks.subscribe(session, actor=odense.client.user, authority_id=ODENSE,
                              url="https://odense.example/hooks", events=["case.created"], production=False)
    values = {"case_id": case.id, "authority_id": ODENSE, "version": int(default_rule_set().version),
              "webhook_id": hook.id}
    callers = {"owner": Api(client, get_token(client, odense)), "other authority": Api(client, get_token(client, aarhus)),
               "no token": Api(client, "")}
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint.startswith("api.")]
    unfilled = {r.endpoint for r in rules if not set(r.arguments) <= set(values)}
    assert unfilled == set(), "fill the new API route's arguments in values"
    changed, walked, answered = [], 0, set()
    for who, api in callers.items():
        for rule in rules:
            path = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
            before = snapshot(session, allowed=AUDIT_ONLY)
            response = client.get(path, headers={"Authorization": f"Bearer {api.token}"} if api.token else {})
            after = snapshot(session, allowed=AUDIT_ONLY)
            walked += 1
            answered.add((who, response.status_code))
            changed += [f"{who} GET {path}: {table}" for table in before if before[table] != after[table]]
    assert changed == []
    assert walked == 3 * len(rules) >= 30
    # The walk reached real answers and real refusals, not only one kind.
    assert {("owner", 200), ("other authority", 404), ("no token", 401)} <= answered
