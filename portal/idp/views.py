"""Routes of the development identity provider."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from urllib.parse import urlencode

import requests
from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    session,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from .server import Provider
from .tokens import ID_TOKEN_FAULTS, LOGOUT_TOKEN_FAULTS

log = logging.getLogger(__name__)

bp = Blueprint("idp", __name__)


def _provider() -> Provider:
    return current_app.extensions["indgang_idp"]


def _server():
    return current_app.extensions["indgang_idp_server"]


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, description="CSRF token missing or wrong")


@bp.app_context_processor
def _template_globals():
    def lang_url(lang):
        args = request.args.to_dict(flat=False)
        args["lang"] = [lang]
        return request.path + "?" + urlencode(args, doseq=True)

    return {"csrf_token": _csrf_token, "lang_url": lang_url, "locale": str(get_locale())}


@bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _error_page(error: OAuth2Error | str, status: int = 400):
    if isinstance(error, OAuth2Error) and getattr(error, "redirect_uri", None):
        # The redirect URI is registered: tell the relying party (RFC 6749 4.1.2.1).
        return _server().handle_error_response(None, error)
    description = getattr(error, "description", None) or getattr(error, "error", None) or error
    return render_template("idp/error.html", description=str(description)), status


# Discovery and keys ------------------------------------------------------------------


@bp.get("/.well-known/openid-configuration")
def discovery():
    provider = _provider()
    iss = provider.issuer
    return jsonify(
        issuer=iss,
        authorization_endpoint=f"{iss}/authorize",
        token_endpoint=f"{iss}/token",
        userinfo_endpoint=f"{iss}/userinfo",
        jwks_uri=f"{iss}/jwks",
        end_session_endpoint=f"{iss}/logout",
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["RS256"],
        scopes_supported=["openid", "profile"],
        token_endpoint_auth_methods_supported=[
            "client_secret_basic", "client_secret_post", "private_key_jwt"
        ],
        token_endpoint_auth_signing_alg_values_supported=["RS256"],
        code_challenge_methods_supported=["S256"],
        claims_supported=[
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "name",
            "given_name", "family_name", "email", "roles", "authority",
            provider.loa_claim, provider.municipality_claim,
        ],
        backchannel_logout_supported=True,
        backchannel_logout_session_supported=True,
        ui_locales_supported=["da", "en"],
    )


@bp.get("/jwks")
def jwks():
    return jsonify(_provider().minter.public_jwks())


# Login --------------------------------------------------------------------------------


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    provider = _provider()
    server = _server()
    if request.method == "GET":
        try:
            server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return _error_page(error)
        return _login_page(provider)

    _check_csrf()
    if "cancel" in request.form:
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return _error_page(error)
        return server.create_authorization_response(grant=grant, grant_user=None)

    person = provider.people.get(request.form.get("person", ""))
    if person is None:
        return _login_page(provider, error=_("Choose a person to log in as.")), 400
    try:
        grant = server.get_consent_grant(end_user=person)
    except OAuth2Error as error:
        return _error_page(error)

    current = session.get("sid") and provider.store.get_login_session(session["sid"])
    if not current or current["person_id"] != person.id:
        if current:
            _end_login_session(current["sid"])
        session["sid"] = secrets.token_urlsafe(24)
        session["auth_time"] = int(time.time())
        provider.store.create_login_session(session["sid"], person.id)
    provider.store.add_session_client(session["sid"], grant.client.client_id)
    log.info("demo login: %s at client %s", person.id, grant.client.client_id)
    return server.create_authorization_response(grant=grant, grant_user=person)


def _login_page(provider: Provider, error: str | None = None):
    people = list(provider.people.values())
    current = session.get("sid") and provider.store.get_login_session(session["sid"])
    return render_template(
        "idp/login.html",
        citizens=[p for p in people if p.kind == "citizen"],
        staff=[p for p in people if p.kind == "staff"],
        current_person=provider.people.get(current["person_id"]) if current else None,
        error=error,
    )


@bp.get("/")
def home():
    provider = _provider()
    current = session.get("sid") and provider.store.get_login_session(session["sid"])
    return render_template(
        "idp/home.html",
        current_person=provider.people.get(current["person_id"]) if current else None,
    )


# Token and userinfo ---------------------------------------------------------------------


@bp.post("/token")
def token():
    return _server().create_token_response()


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    provider = _provider()
    auth = request.headers.get("Authorization", "")
    if not auth.lower().startswith("bearer "):
        return _bearer_error("invalid_request")
    row = provider.store.get_access_token(auth[7:].strip())
    person = row and provider.people.get(row["person_id"])
    if not person:
        return _bearer_error("invalid_token")
    return jsonify(provider.claims_for(person))


def _bearer_error(code: str):
    response = jsonify(error=code)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = f'Bearer error="{code}"'
    return response


# Logout ----------------------------------------------------------------------------------


@bp.route("/logout", methods=["GET", "POST"])
def end_session():
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""
    provider = _provider()
    server = _server()
    try:
        end_request = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return _error_page(error)

    if end_request.needs_confirmation and request.method == "GET":
        return render_template("idp/confirm_logout.html")
    if request.method == "POST":
        _check_csrf()

    sids = set()
    if session.get("sid"):
        sids.add(session["sid"])
    hint = end_request.id_token_claims or {}
    if hint.get("sid"):
        row = provider.store.get_login_session(hint["sid"])
        person = row and provider.people.get(row["person_id"])
        if person and person.sub == hint.get("sub"):
            sids.add(hint["sid"])
    for sid in sids:
        _end_login_session(sid)
    session.pop("sid", None)
    session.pop("auth_time", None)

    response = server.create_endpoint_response("end_session", end_request)
    return response or render_template("idp/logged_out.html")


@bp.post("/session/end")
def end_own_session():
    """The person logs out at the provider itself (not started by a relying party)."""
    _check_csrf()
    if session.get("sid"):
        _end_login_session(session["sid"])
    session.pop("sid", None)
    session.pop("auth_time", None)
    return render_template("idp/logged_out.html")


def _end_login_session(sid: str) -> None:
    """End one provider session and send logout tokens to its relying parties."""
    provider = _provider()
    row = provider.store.get_login_session(sid)
    person = row and provider.people.get(row["person_id"])
    for client_id in provider.store.end_login_session(sid):
        client = provider.clients.get(client_id)
        if not client or not client.backchannel_logout_uri:
            continue
        token = provider.minter.mint_logout_token(
            client_id, person.sub if person else None, sid
        )
        try:
            resp = requests.post(
                client.backchannel_logout_uri,
                data={"logout_token": token},
                timeout=current_app.config["IDP_BACKCHANNEL_TIMEOUT"],
            )
            log.info("back-channel logout to %s: %s", client_id, resp.status_code)
        except requests.RequestException as exc:
            log.warning("back-channel logout to %s failed: %s", client_id, exc)


# Test mode: the fault switch ----------------------------------------------------------------


def _require_test_mode():
    if not current_app.config.get("IDP_TEST_MODE"):
        abort(404)


@bp.route("/test/faults", methods=["GET", "POST"])
def test_faults():
    """Read or set the faults the provider puts into the next tokens (test mode only).

    POST JSON ``{"id_token": "expired", "logout_token": null}``; nulls clear.
    """
    _require_test_mode()
    minter = _provider().minter
    if request.method == "POST":
        data = request.get_json(force=True) or {}
        try:
            minter.set_faults(data.get("id_token"), data.get("logout_token"))
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
    return jsonify(
        faults=minter.faults(),
        id_token_faults=list(ID_TOKEN_FAULTS),
        logout_token_faults=list(LOGOUT_TOKEN_FAULTS),
    )


@bp.post("/test/logout-token")
def test_logout_token():
    """Mint a logout token without sending it (test mode only).

    JSON ``{"client_id": ..., "sub": ..., "sid": ..., "fault": ...}``.
    """
    _require_test_mode()
    data = request.get_json(force=True) or {}
    fault = data.get("fault")
    if fault is not None and fault not in LOGOUT_TOKEN_FAULTS:
        return jsonify(error=f"unknown fault {fault!r}"), 400
    token = _provider().minter.mint_logout_token(
        data["client_id"], data.get("sub"), data.get("sid"), fault=fault
    )
    return jsonify(logout_token=token)


@bp.post("/test/end-session")
def test_end_session():
    """End the provider session of a subject as if they logged out at the provider."""
    _require_test_mode()
    data = request.get_json(force=True) or {}
    provider = _provider()
    ended = 0
    for sid in provider.store.sids_of_person(data.get("person_id", "")):
        _end_login_session(sid)
        ended += 1
    return jsonify(ended=ended)
