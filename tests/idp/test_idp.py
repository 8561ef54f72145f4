"""The development identity provider over real HTTP on loopback."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portal.idp import create_idp_app
from portal.idp.tokens import BACKCHANNEL_LOGOUT_EVENT, ID_TOKEN_FAULTS, LOGOUT_TOKEN_FAULTS
from tests.support.idp_constants import (
    CLIENT_ID,
    CLIENT_SECRET,
    JWT_CLIENT_ID,
    POST_LOGOUT_URI,
    REDIRECT_URI,
)

LOA_SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"
MUNICIPALITY_CLAIM = "urn:indgang:claims:municipality_code"


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize_params(**overrides):
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}, verifier


def pick_person(browser, idp, params, person_id):
    """Open the login page and press the button of one demo person."""
    url = f"{idp.url}/authorize?{urlencode(params)}"
    page = browser.get(url)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return browser.post(url, data={"csrf_token": csrf, "person": person_id},
                        allow_redirects=False)


def login(idp, person_id="karen-odense", browser=None, **overrides):
    """The whole code flow; returns (token response, params, browser)."""
    browser = browser or requests.Session()
    params, verifier = authorize_params(**overrides)
    answer = pick_person(browser, idp, params, person_id)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlparse(answer.headers["Location"]).query)
    assert query["state"] == [params["state"]]
    token = requests.post(
        f"{idp.url}/token",
        data={"grant_type": "authorization_code", "code": query["code"][0],
              "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    return token, params, browser


def keyset(idp):
    return KeySet.import_key_set(requests.get(f"{idp.url}/jwks", timeout=5).json())


def decode(idp, id_token):
    return jwt.decode(id_token, keyset(idp), algorithms=["RS256"])


def set_faults(idp, **faults):
    r = requests.post(f"{idp.url}/test/faults", json=faults, timeout=5)
    assert r.status_code == 200, r.text


def test_discovery_names_its_own_issuer_and_endpoints(idp):
    meta = requests.get(f"{idp.url}/.well-known/openid-configuration", timeout=5).json()
    assert meta["issuer"] == idp.url
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                 "jwks_uri", "end_session_endpoint"):
        assert meta[name].startswith(idp.url + "/")
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert meta["backchannel_logout_supported"] is True


def test_jwks_publishes_a_public_key_with_kid(idp):
    keys = requests.get(f"{idp.url}/jwks", timeout=5).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kid"] and keys[0]["kty"] == "RSA"
    assert "d" not in keys[0]


def test_citizen_code_flow_gives_a_complete_id_token(idp):
    token, params, _ = login(idp, "karen-odense")
    assert token.status_code == 200, token.text
    body = token.json()
    header = jws.extract_compact(body["id_token"].encode()).headers()
    assert header["kid"] == keyset(idp).keys[0].kid
    claims = decode(idp, body["id_token"]).claims
    assert claims["iss"] == idp.url
    assert claims["aud"] == CLIENT_ID
    assert claims["nonce"] == params["nonce"]
    assert claims["exp"] > time.time() > claims["iat"] - 5
    assert claims["sid"]
    expected = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    assert claims["loa"] == LOA_SUBSTANTIAL
    assert claims[MUNICIPALITY_CLAIM] == "461"
    assert "roles" not in claims

    info = requests.get(f"{idp.url}/userinfo", timeout=5,
                        headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"]


def test_staff_tokens_carry_roles_and_authority(idp):
    token, _, _ = login(idp, "caseworker-aarhus")
    claims = decode(idp, token.json()["id_token"]).claims
    assert claims["roles"] == ["caseworker"]
    assert claims["authority"] == "municipality-751"
    assert "loa" not in claims


def test_citizen_without_municipality_gets_no_municipality_claim(idp):
    token, _, _ = login(idp, "sofie-no-municipality")
    claims = decode(idp, token.json()["id_token"]).claims
    assert MUNICIPALITY_CLAIM not in claims
    assert claims["loa"] == LOA_SUBSTANTIAL


def test_low_assurance_citizen_is_marked_low(idp):
    token, _, _ = login(idp, "jonas-low")
    claims = decode(idp, token.json()["id_token"]).claims
    assert claims["loa"].endswith("/Low")


def test_userinfo_refuses_unknown_tokens(idp):
    r = requests.get(f"{idp.url}/userinfo", headers={"Authorization": "Bearer nope"},
                     timeout=5)
    assert r.status_code == 401
    assert "invalid_token" in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize("overrides", [
    {"code_challenge": None, "code_challenge_method": None},
    {"code_challenge_method": "plain"},
    {"code_challenge_method": None},
])
def test_pkce_s256_is_required_even_of_confidential_clients(idp, overrides):
    params, _ = authorize_params(**overrides)
    r = requests.get(f"{idp.url}/authorize?{urlencode(params)}", allow_redirects=False,
                     timeout=5)
    assert r.status_code in (302, 400)
    if r.status_code == 302:
        assert parse_qs(urlparse(r.headers["Location"]).query)["error"] == ["invalid_request"]
    else:
        assert 'data-person="karen-odense"' not in r.text


def test_token_request_without_code_verifier_is_refused(idp):
    browser = requests.Session()
    params, _ = authorize_params()
    answer = pick_person(browser, idp, params, "karen-odense")
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    r = requests.post(f"{idp.url}/token", auth=(CLIENT_ID, CLIENT_SECRET), timeout=5,
                      data={"grant_type": "authorization_code", "code": code,
                            "redirect_uri": REDIRECT_URI})
    assert r.status_code == 400
    assert "id_token" not in r.text


def test_wrong_code_verifier_is_refused(idp):
    browser = requests.Session()
    params, _ = authorize_params()
    answer = pick_person(browser, idp, params, "karen-odense")
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    r = requests.post(f"{idp.url}/token", auth=(CLIENT_ID, CLIENT_SECRET), timeout=5,
                      data={"grant_type": "authorization_code", "code": code,
                            "redirect_uri": REDIRECT_URI,
                            "code_verifier": secrets.token_urlsafe(48)})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_nonce_is_required(idp):
    params, _ = authorize_params(nonce=None)
    r = requests.get(f"{idp.url}/authorize?{urlencode(params)}", allow_redirects=False,
                     timeout=5)
    assert r.status_code == 302
    assert parse_qs(urlparse(r.headers["Location"]).query)["error"] == ["invalid_request"]


def test_unregistered_redirect_uri_is_refused_without_redirect(idp):
    params, _ = authorize_params(redirect_uri="https://evil.example/cb")
    r = requests.get(f"{idp.url}/authorize?{urlencode(params)}", allow_redirects=False,
                     timeout=5)
    assert r.status_code == 400
    assert "evil.example" not in r.headers.get("Location", "")


def test_wrong_client_secret_gets_no_token(idp):
    browser = requests.Session()
    params, verifier = authorize_params()
    answer = pick_person(browser, idp, params, "karen-odense")
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    r = requests.post(f"{idp.url}/token", auth=(CLIENT_ID, "wrong"), timeout=5,
                      data={"grant_type": "authorization_code", "code": code,
                            "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert r.status_code == 401


def test_code_can_be_used_once(idp):
    browser = requests.Session()
    params, verifier = authorize_params()
    answer = pick_person(browser, idp, params, "karen-odense")
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    first = requests.post(f"{idp.url}/token", auth=(CLIENT_ID, CLIENT_SECRET), data=data,
                          timeout=5)
    second = requests.post(f"{idp.url}/token", auth=(CLIENT_ID, CLIENT_SECRET), data=data,
                           timeout=5)
    assert first.status_code == 200
    assert second.status_code == 400


def _client_assertion(key, audience, jti=None):
    now = int(time.time())
    claims = {"iss": JWT_CLIENT_ID, "sub": JWT_CLIENT_ID, "aud": audience,
              "iat": now, "exp": now + 60, "jti": jti or uuid.uuid4().hex}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _jwt_client_code(idp):
    browser = requests.Session()
    params, verifier = authorize_params(client_id=JWT_CLIENT_ID)
    answer = pick_person(browser, idp, params, "caseworker-odense")
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    return code, verifier


def test_private_key_jwt_client_authenticates_with_its_key(idp, client_key):
    code, verifier = _jwt_client_code(idp)
    r = requests.post(f"{idp.url}/token", timeout=5, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier, "client_id": JWT_CLIENT_ID,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _client_assertion(client_key, f"{idp.url}/token"),
    })
    assert r.status_code == 200, r.text
    assert decode(idp, r.json()["id_token"]).claims["aud"] == JWT_CLIENT_ID


def test_private_key_jwt_with_another_key_is_refused(idp):
    from joserfc.jwk import RSAKey

    stranger = RSAKey.generate_key(2048, private=True, auto_kid=True)
    code, verifier = _jwt_client_code(idp)
    r = requests.post(f"{idp.url}/token", timeout=5, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier, "client_id": JWT_CLIENT_ID,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _client_assertion(stranger, f"{idp.url}/token"),
    })
    assert r.status_code in (400, 401)
    assert r.json()["error"] == "invalid_client"


def test_good_tokens_validate_while_no_fault_is_set(idp):
    token, params, _ = login(idp)
    claims = decode(idp, token.json()["id_token"]).claims
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": idp.url},
                          aud={"essential": True, "value": CLIENT_ID},
                          nonce={"essential": True, "value": params["nonce"]}).validate(claims)


@pytest.mark.parametrize("fault", ID_TOKEN_FAULTS)
def test_fault_switch_spoils_the_id_token(idp, fault):
    set_faults(idp, id_token=fault)
    token, params, _ = login(idp)
    id_token = token.json()["id_token"]
    if fault in ("bad_signature", "unknown_kid"):
        with pytest.raises(JoseError):
            decode(idp, id_token)
        header = jws.extract_compact(id_token.encode()).headers()
        known = keyset(idp).keys[0].kid
        assert (header["kid"] == known) == (fault == "bad_signature")
        return
    claims = decode(idp, id_token).claims
    now = time.time()
    spoiled = {
        "wrong_iss": claims["iss"] != idp.url,
        "wrong_aud": claims["aud"] != CLIENT_ID,
        "expired": claims["exp"] < now,
        "iat_future": claims["iat"] > now + 600,
        "missing_nonce": "nonce" not in claims,
        "wrong_nonce": claims.get("nonce") not in (None, params["nonce"]),
    }
    assert spoiled[fault]
    assert [name for name, bad in spoiled.items() if bad] == [fault]


def test_fault_switch_rejects_unknown_names(idp):
    r = requests.post(f"{idp.url}/test/faults", json={"id_token": "gremlins"}, timeout=5)
    assert r.status_code == 400


def test_fault_switch_is_closed_outside_test_mode(tmp_path):
    from tests.support.live import LiveServer

    server = LiveServer()
    app = create_idp_app({"IDP_ISSUER": server.url,
                          "IDP_STORE_PATH": str(tmp_path / "s.sqlite3"),
                          "IDP_KEY_PATH": str(tmp_path / "k.json")})
    client = app.test_client()
    assert client.post("/test/faults", json={"id_token": "expired"}).status_code == 404
    assert client.post("/test/logout-token", json={"client_id": "x"}).status_code == 404
    server.stop()


def _logout_token(idp, fault=None, sub="s-1", sid="sid-1"):
    r = requests.post(f"{idp.url}/test/logout-token", timeout=5,
                      json={"client_id": CLIENT_ID, "sub": sub, "sid": sid, "fault": fault})
    assert r.status_code == 200, r.text
    return r.json()["logout_token"]


def test_logout_token_is_well_formed(idp):
    token = _logout_token(idp)
    header = jws.extract_compact(token.encode()).headers()
    assert header["typ"] == "logout+jwt"
    claims = decode(idp, token).claims
    assert claims["iss"] == idp.url and claims["aud"] == CLIENT_ID
    assert claims["sub"] == "s-1" and claims["sid"] == "sid-1"
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert claims["jti"] and "nonce" not in claims


@pytest.mark.parametrize("fault", LOGOUT_TOKEN_FAULTS)
def test_logout_token_faults(idp, fault):
    previous = decode(idp, _logout_token(idp)).claims
    token = _logout_token(idp, fault=fault)
    if fault == "bad_signature":
        with pytest.raises(JoseError):
            decode(idp, token)
        return
    claims = decode(idp, token).claims
    spoiled = {
        "wrong_iss": claims["iss"] != idp.url,
        "wrong_aud": claims["aud"] != CLIENT_ID,
        "missing_sub": "sub" not in claims,
        "wrong_events": BACKCHANNEL_LOGOUT_EVENT not in claims["events"],
        "with_nonce": "nonce" in claims,
        "replayed_jti": claims["jti"] == previous["jti"],
    }
    assert [name for name, bad in spoiled.items() if bad] == [fault]


def test_rp_initiated_logout_redirects_to_registered_uri_and_notifies(idp, backchannel_sink):
    token, _, browser = login(idp)
    id_token = token.json()["id_token"]
    claims = decode(idp, id_token).claims
    r = browser.get(f"{idp.url}/logout", allow_redirects=False, params={
        "id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT_URI,
        "state": "xyz"})
    assert r.status_code == 302
    assert r.headers["Location"] == POST_LOGOUT_URI + "?state=xyz"
    assert len(backchannel_sink.received) == 1
    logout = decode(idp, backchannel_sink.received[0]).claims
    assert logout["sub"] == claims["sub"] and logout["sid"] == claims["sid"]
    assert logout["aud"] == CLIENT_ID
    # The provider session is gone: a second logout notifies nobody.
    browser.get(f"{idp.url}/logout", allow_redirects=False, params={
        "id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT_URI})
    assert len(backchannel_sink.received) == 1


def test_logout_to_an_unregistered_uri_does_not_redirect(idp):
    token, _, browser = login(idp)
    r = browser.get(f"{idp.url}/logout", allow_redirects=False, params={
        "id_token_hint": token.json()["id_token"],
        "post_logout_redirect_uri": "https://evil.example/"})
    assert r.status_code == 200
    assert "evil.example" not in r.headers.get("Location", "")


def test_logout_with_a_forged_id_token_hint_is_refused(idp):
    set_faults(idp, id_token="bad_signature")
    token, _, browser = login(idp)
    set_faults(idp)
    r = browser.get(f"{idp.url}/logout", allow_redirects=False, params={
        "id_token_hint": token.json()["id_token"],
        "post_logout_redirect_uri": POST_LOGOUT_URI})
    assert r.status_code == 400


def test_logout_at_the_provider_itself_sends_logout_tokens(idp, backchannel_sink):
    token, _, browser = login(idp, "mads-aarhus")
    home = browser.get(f"{idp.url}/")
    assert "Mads Nielsen" in home.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)
    r = browser.post(f"{idp.url}/session/end", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert len(backchannel_sink.received) == 1
    sub = decode(idp, token.json()["id_token"]).claims["sub"]
    assert decode(idp, backchannel_sink.received[0]).claims["sub"] == sub


def test_login_post_without_csrf_token_is_refused(idp):
    params, _ = authorize_params()
    r = requests.post(f"{idp.url}/authorize?{urlencode(params)}",
                      data={"person": "karen-odense"}, allow_redirects=False, timeout=5)
    assert r.status_code == 400


def test_login_page_speaks_danish_and_english(idp):
    params, _ = authorize_params()
    url = f"{idp.url}/authorize?{urlencode(params)}"
    da = requests.get(url, headers={"Accept-Language": "da"}, timeout=5)
    en = requests.get(url + "&lang=en", timeout=5)
    assert '<html lang="da">' in da.text and "Borger i Odense Kommune" in da.text
    assert '<html lang="en">' in en.text and "Citizen in Odense Municipality" in en.text


def test_refuses_to_start_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("INDGANG_ENV", "production")
    with pytest.raises(RuntimeError, match="production"):
        create_idp_app({"IDP_STORE_PATH": str(tmp_path / "s"), "IDP_KEY_PATH": str(tmp_path / "k")})
    monkeypatch.delenv("INDGANG_ENV")
    with pytest.raises(RuntimeError):
        create_idp_app({"INDGANG_ENV": "production"})


def test_two_provider_instances_share_one_store(tmp_path):
    """Codes issued by one process can be redeemed through another (one SQLite file)."""
    cfg = {"IDP_ISSUER": "http://127.0.0.1:1", "IDP_STORE_PATH": str(tmp_path / "s.sqlite3"),
           "IDP_KEY_PATH": str(tmp_path / "k.json")}
    first, second = create_idp_app(dict(cfg)), create_idp_app(dict(cfg))
    assert (first.extensions["indgang_idp"].minter.public_jwks()
            == second.extensions["indgang_idp"].minter.public_jwks())
    first.extensions["indgang_idp"].store.set_setting("probe", 1)
    assert second.extensions["indgang_idp"].store.get_setting("probe") == 1
