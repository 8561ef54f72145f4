"""One portal, two providers: citizens from one issuer, staff from another."""

from __future__ import annotations

from urllib.parse import urlparse

from sqlalchemy import select

from portal.models import Role, User
from tests.support.live import LiveServer
from tests.support.oidc import PORTAL_CLIENT_ID, PORTAL_CLIENT_SECRET, csrf_from, idp_client


def test_citizen_and_workforce_providers_side_by_side(live_database_url, redis_url, tmp_path):
    import requests

    from portal import create_app, redis_conn
    from portal.idp import create_idp_app
    from tests.conftest import make_config

    portal = LiveServer()
    idps = {}
    for name, kinds in (("mitid", ["citizen"]), ("workforce", ["staff"])):
        server = LiveServer()
        server.start(create_idp_app({
            "IDP_ISSUER": server.url, "IDP_PEOPLE_KINDS": kinds,
            "IDP_STORE_PATH": str(tmp_path / f"{name}.sqlite3"),
            "IDP_KEY_PATH": str(tmp_path / f"{name}.json"),
            "IDP_CLIENTS": [idp_client(portal.url, provider=name)],
        }))
        idps[name] = server
    providers = [
        {"name": "mitid", "label": "MitID", "kind": "citizen", "issuer": idps["mitid"].url,
         "client_id": PORTAL_CLIENT_ID, "client_secret": PORTAL_CLIENT_SECRET},
        {"name": "workforce", "label": "Medarbejderlogin", "kind": "staff",
         "issuer": idps["workforce"].url, "client_id": PORTAL_CLIENT_ID,
         "client_secret": PORTAL_CLIENT_SECRET, "role_map": {"coordinator": "coordinator"}},
    ]
    app = create_app(make_config(live_database_url, redis_url, tmp_path,
                                 BASE_URL=portal.url, OIDC_PROVIDERS=providers))
    portal.start(app)
    try:
        login_page = requests.get(f"{portal.url}/login", timeout=10).text
        assert "MitID" in login_page and "Medarbejderlogin" in login_page

        def log_in(provider, person):
            browser = requests.Session()
            page = browser.get(f"{portal.url}/auth/login/{provider}", timeout=10)
            assert page.url.startswith(idps[provider].url)
            return browser.post(page.url, data={"csrf_token": csrf_from(page.text),
                                                "person": person}, timeout=10)

        assert urlparse(log_in("mitid", "lars-aalborg").url).path == "/mine"
        assert log_in("workforce", "coordinator-aarhus").status_code == 200
        # The workforce provider maps only "coordinator": a caseworker has no role there.
        refused = log_in("workforce", "caseworker-odense")
        assert refused.status_code == 403
        with app.extensions["db"].sessionmaker() as s:
            lars = s.scalar(select(User).where(User.name == "Lars Pedersen"))
            peter = s.scalar(select(User).where(User.name == "Peter Sørensen"))
            assert (lars.issuer, lars.role) == (idps["mitid"].url, Role.CITIZEN)
            assert (peter.issuer, peter.role) == (idps["workforce"].url, Role.COORDINATOR)
            assert peter.authority_id == "municipality-751"
    finally:
        portal.stop()
        for server in idps.values():
            server.stop()
        redis_conn.close(app)
        app.extensions["db"].engine.dispose()
