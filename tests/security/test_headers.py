"""Every kind of response carries the security headers, not only full pages: error
pages, htmx partials, downloads, API replies and refusals made before any view ran."""

from __future__ import annotations

import pytest

from tests.api.conftest import get_token, new_client


def not_found(app, client, login, world):
    login(world.citizen)
    return client.get("/no-such-page")


def server_error(app, client, login, world):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return client.get("/boom")


def htmx_partial(app, client, login, world):
    login(world.caseworker)
    return client.get("/cases/?status=accepted", headers={"HX-Request": "true"})


def csv_export(app, client, login, world):
    login(world.coordinator)
    return client.get("/stats/export/periods.csv")


def attachment_download(app, client, login, world):
    login(world.citizen)
    return client.get(f"/bilag/{world.attachment.id}")


def bearer(client) -> dict:
    from portal.db import get_session

    made = new_client(get_session(), "municipality-461")
    return {"Authorization": f"Bearer {get_token(client, made)}"}


def api_json(app, client, login, world):
    return client.get("/api/v1/authorities", headers=bearer(client))


def too_large(app, client, login, world):
    login(world.citizen)
    app.config["MAX_CONTENT_LENGTH"] = 1024
    return client.post(f"/ansoegninger/{world.draft.id}/bilag", data={"note": "x" * 4096})


def api_too_large(app, client, login, world):
    app.config["API_MAX_BODY_BYTES"] = 1000
    return client.post(f"/api/v1/cases/{world.case.id}/messages", json={"body": "x" * 5000},
                       headers=bearer(client))


KINDS = [
    (not_found, 404, "text/html"),
    (server_error, 500, "text/html"),
    (htmx_partial, 200, "text/html"),
    (csv_export, 200, "text/csv"),
    (attachment_download, 200, "application/pdf"),
    (api_json, 200, "application/json"),
    (too_large, 413, "text/html"),
    (api_too_large, 413, "application/problem+json"),
]


@pytest.mark.parametrize(("make", "status", "mimetype"), KINDS, ids=[k[0].__name__ for k in KINDS])
def test_every_kind_of_response_carries_the_security_headers(app, client, login, world, make, status, mimetype):
    response = make(app, client, login, world)
    assert (response.status_code, response.mimetype) == (status, mimetype)
    headers = response.headers
    csp = [d.strip() for d in headers["Content-Security-Policy"].split(";")]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(headers["Strict-Transport-Security"].split(";")[0].removeprefix("max-age=")) >= 31536000
    assert headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert headers["Referrer-Policy"] in ("no-referrer", "same-origin", "strict-origin-when-cross-origin")
