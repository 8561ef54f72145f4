"""Fixtures for the API: clients of Odense and Aarhus, tokens, and a response checker
that validates every answer against the served OpenAPI description."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from jsonschema import Draft202012Validator

from portal.models.api import SCOPES

ODENSE = "municipality-461"
AARHUS = "municipality-751"


def new_client(session, authority_id: str, scopes=SCOPES, **kwargs):
    from portal.services.api_clients import create_client

    return create_client(session, authority_id=authority_id, scopes=list(scopes), **kwargs)


def get_token(http, made, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = http.post("/api/v1/oauth/token", data=data, auth=(made.client.client_id, made.secret))
    assert response.status_code == 200, response.get_json()
    return response.json["access_token"]


@dataclass
class Api:
    """A test client that sends a bearer token and checks each answer against the
    OpenAPI description."""

    http: object
    token: str

    def _headers(self, headers):
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path, headers=None, **kwargs):
        return check(self.http.get(path, headers=self._headers(headers), **kwargs), "get")

    def post(self, path, json=None, headers=None, **kwargs):
        return check(self.http.post(path, json=json, headers=self._headers(headers), **kwargs), "post")

    def delete(self, path, headers=None):
        return check(self.http.delete(path, headers=self._headers(headers)), "delete")


@pytest.fixture
def odense(session):
    return new_client(session, ODENSE, name="Odense test system")


@pytest.fixture
def aarhus(session):
    return new_client(session, AARHUS, name="Aarhus test system")


@pytest.fixture
def odense_api(client, odense) -> Api:
    return Api(client, get_token(client, odense))


@pytest.fixture
def aarhus_api(client, aarhus) -> Api:
    return Api(client, get_token(client, aarhus))


# --- checking answers against the description ------------------------------------------


def _template(path: str) -> tuple[str, dict] | None:
    from portal.api.openapi import PATHS

    path = path.split("?")[0].removeprefix("/api/v1")
    for template in PATHS:
        pattern = "^" + re.sub(r"\{[a-z_]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            return template, PATHS[template]
    return None


def check(response, method: str):
    """Fail unless ``response`` is described: its status is listed for the operation,
    its media type matches, and its body validates against the schema."""
    from portal.api.openapi import description

    request_path = response.request.path
    found = _template(request_path)
    if found is None:
        # Not a described path: it must be a problem (404/405).
        assert response.mimetype == "application/problem+json", (request_path, response.status_code)
        _validate(response.get_json(), {"$ref": "#/components/schemas/Problem"})
        return response
    template, item = found
    operation = item.get(method)
    if operation is None:
        assert response.status_code == 405 and response.mimetype == "application/problem+json"
        return response
    spec = operation["responses"].get(str(response.status_code))
    assert spec is not None, f"{method.upper()} {template}: status {response.status_code} not described: {response.get_data(as_text=True)[:300]}"
    content = spec.get("content")
    if not content:
        assert not response.get_data(), f"{template}: a {response.status_code} must have no body"
        return response
    assert response.mimetype in content, f"{template}: {response.mimetype} not in {list(content)}"
    _validate(response.get_json(), content[response.mimetype]["schema"], description()["components"])
    return response


def _validate(body, schema, components=None):
    from portal.api.openapi import description

    components = components or description()["components"]
    validator = Draft202012Validator({**schema, "components": components},
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


# --- a live server (its own database) for tools that speak HTTP ------------------------


@dataclass
class LiveApi:
    app: object
    url: str
    token: str
    odense_case_id: int
    aarhus_case_id: int


@pytest.fixture
def live_api(live_database_url, redis_url, tmp_path):
    """The app served on a loopback port, with an Odense client holding every scope, a
    token, and a case at Odense and at Aarhus."""
    import threading

    from werkzeug.serving import make_server

    from portal import create_app, redis_conn
    from tests.conftest import make_config
    from tests.factories import make_case, make_citizen, make_request

    app = create_app(make_config(live_database_url, redis_url, tmp_path))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    session = app.extensions["db"].sessionmaker()
    try:
        made = new_client(session, ODENSE)
        ours = make_case(session, make_request(session, make_citizen(session, "461")), authority_id=ODENSE)
        theirs = make_case(session, make_request(session, make_citizen(session, "751")), authority_id=AARHUS)
        session.commit()
        ids = (ours.id, theirs.id)
        client_id, secret = made.client.client_id, made.secret
    finally:
        session.close()
    import requests

    response = requests.post(f"{url}/api/v1/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, secret), timeout=10)
    response.raise_for_status()
    yield LiveApi(app=app, url=url, token=response.json()["access_token"], odense_case_id=ids[0],
                  aarhus_case_id=ids[1])
    server.shutdown()
    redis_conn.close(app)
    app.extensions["db"].engine.dispose()
