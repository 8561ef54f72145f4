"""Login with OpenID Connect, logout (local, RP-initiated and back-channel)."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import date
from urllib.parse import urlencode

from authlib.integrations.base_client.errors import OAuthError
from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from portal.auth import (
    LOCALE_CHOSEN,
    current_user,
    end_session,
    login_required,
    safe_next,
    start_session,
)
from portal.auth.providers import Provider, ProviderError, get_client, get_provider
from portal.auth.residence import LookupFailed
from portal.auth.sessions import now
from portal.auth.tokens import (
    TokenRejected,
    merge_userinfo,
    validate_id_token,
    validate_logout_token,
)
from portal.db import get_session
from portal.extensions import csrf, htmx
from portal.services import accounts
from portal.services.deadlines import danish_today

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

SAFE_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
OUTCOME_PAGES = {"refused": "auth/refused.html", "failed": "auth/failed.html",
                 "cancelled": "auth/cancelled.html"}
MAX_PENDING_LOGINS = 3
PENDING_LOGIN_SECONDS = 600
# The landing page after login, by role: the first of these endpoints the app has.
LANDING = {
    "citizen": ("citizen.overview",),
    "caseworker": ("caseworker.inbox",),
    "team_lead": ("caseworker.inbox",),
    "coordinator": ("stats.dashboard", "caseworker.inbox"),
    "administrator": ("admin.rule_sets",),
}


def _base_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


def _landing(user) -> str:
    candidates = (*LANDING.get(user.role.value, ()), "main.index")
    endpoint = next(e for e in candidates if e in current_app.view_functions)
    return url_for(endpoint)


def _safe_code(value) -> str | None:
    """An OAuth error code fit for a log line (RFC 6749 codes are short ASCII words)."""
    if isinstance(value, str) and SAFE_CODE.fullmatch(value):
        return value
    return None


def _log_failure(what: str, provider: str, reason: str, oauth_error: str | None = None) -> None:
    # Reason codes only: tokens, codes and claims never reach the log.
    log.warning("%s: provider=%s error=%s reason=%s correlation_id=%s", what, provider,
                oauth_error or "-", reason, g.get("correlation_id"))


def _failed(provider: str, reason: str, status: int = 400, *, oauth_error: str | None = None,
            issuers: tuple[str | None, str | None] | None = None, clean: bool = False):
    """A login that failed for a technical or security reason: log, audit, plain page.

    ``clean``: the request carries the provider's answer (``?code=&state=``), so the
    page is shown at a clean address after a redirect instead."""
    _log_failure("login failed", provider, reason, oauth_error)
    accounts.record_failed_login(get_session(), provider=provider, reason=reason)
    outcome = {"page": "failed", "reason": reason, "status": status, "provider": provider}
    if issuers:
        outcome["configured"], outcome["discovered"] = issuers
    if clean:
        return _to_outcome(outcome)
    return _render_outcome(outcome)


def _provider_failed(provider: str, exc: ProviderError, *, clean: bool = False):
    issuers = (exc.configured, exc.discovered) if exc.reason == "issuer_mismatch" else None
    log.warning("provider unusable: %s", exc)
    return _failed(provider, exc.reason, 503, issuers=issuers, clean=clean)


def _to_outcome(outcome: dict):
    session["auth_outcome"] = outcome
    return redirect(url_for("auth.outcome", page=outcome["page"]), code=303)


def _render_outcome(outcome: dict):
    template = OUTCOME_PAGES[outcome["page"]]
    return render_template(template, reason=outcome.get("reason"), provider=outcome.get("provider"),
                           configured=outcome.get("configured"),
                           discovered=outcome.get("discovered")), outcome.get("status", 200)


@bp.get("/<any(refused, failed, cancelled):page>")
def outcome(page: str):
    """The page for how a login ended, at an address without the provider's answer."""
    stored = session.get("auth_outcome")
    if not stored or stored.get("page") != page:
        return redirect(url_for("main.login"), code=303)
    return _render_outcome(stored)


@bp.get("/login/<provider>")
def login(provider: str):
    """Start the authorization code flow with state, nonce and PKCE S256."""
    try:
        p = get_provider(provider)
        client = get_client(p)
    except ProviderError as exc:
        return _provider_failed(provider, exc)

    redirect_uri = _base_url() + url_for("auth.callback", provider=p.name)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(64)
    extra = {}
    acr_values = p.acr_values_for(current_app.config["OIDC_MIN_LOA"])
    if acr_values:
        extra["acr_values"] = acr_values
    # After a refusal the provider's own session would log the same person in again
    # at the same level without asking: make it ask.
    if session.pop("oidc_prompt_login", None) == p.name:
        extra["prompt"] = "login"
    auth = client.create_authorization_url(
        redirect_uri, state=state, nonce=nonce, code_verifier=verifier,
        ui_locales=str(session.get("locale") or "da"), **extra,
    )
    t = now()
    pending = {
        s: v for s, v in (session.get("oidc_pending") or {}).items()
        if t - v.get("at", 0) < PENDING_LOGIN_SECONDS
    }
    while len(pending) >= MAX_PENDING_LOGINS:
        pending.pop(min(pending, key=lambda s: pending[s]["at"]))
    pending[state] = {
        "provider": p.name, "nonce": nonce, "verifier": verifier,
        "redirect_uri": redirect_uri, "next": safe_next(request.args.get("next")), "at": t,
    }
    session["oidc_pending"] = pending
    return redirect(auth["url"])


@bp.get("/callback/<provider>")
def callback(provider: str):
    """Finish the login: check state, redeem the code, validate the ID token."""
    state = request.args.get("state", "")
    pending_all = dict(session.get("oidc_pending") or {})
    pending = pending_all.pop(state, None) if state else None
    session["oidc_pending"] = pending_all
    if not pending or pending["provider"] != provider or now() - pending["at"] > PENDING_LOGIN_SECONDS:
        return _failed(provider, "state_mismatch", clean=True)
    if request.args.get("error"):
        error = _safe_code(request.args["error"])
        if error == "access_denied":
            log.info("login cancelled: provider=%s", provider)
            return _to_outcome({"page": "cancelled", "provider": provider, "status": 200})
        return _failed(provider, "provider_error", oauth_error=error or "unreadable", clean=True)
    code = request.args.get("code")
    if not code:
        return _failed(provider, "missing_code", clean=True)

    try:
        p = get_provider(provider)
        client = get_client(p)
    except ProviderError as exc:
        return _provider_failed(provider, exc, clean=True)
    try:
        token = client.fetch_access_token(
            redirect_uri=pending["redirect_uri"], code=code, code_verifier=pending["verifier"]
        )
    except OAuthError as exc:  # the token endpoint said no
        return _failed(provider, "token_request_failed",
                       oauth_error=_safe_code(exc.error) or "unreadable", clean=True)
    except Exception as exc:  # could not be reached, or answered something else
        return _failed(provider, "token_endpoint_unreachable", oauth_error=exc.__class__.__name__,
                       clean=True)
    id_token = token.get("id_token")
    if not id_token:
        return _failed(provider, "missing_id_token", clean=True)
    try:
        claims = validate_id_token(
            id_token,
            fetch_jwks=lambda force: client.fetch_jwk_set(force=force),
            issuer=p.issuer, client_id=p.client_id, nonce=pending["nonce"], now=now(),
        )
        if p.userinfo and token.get("access_token"):
            claims = merge_userinfo(claims, _userinfo(client, token))
    except TokenRejected as exc:
        return _failed(provider, exc.reason, oauth_error=exc.oauth_error, clean=True)

    try:
        identity = _identity(p, claims)
    except LookupFailed as exc:  # the residence-data service did not answer
        return _failed(provider, exc.reason, 503, clean=True)
    # A language chosen in this browser before logging in becomes the person's own.
    chosen = session.get("locale") if session.get(LOCALE_CHOSEN) else None
    try:
        user = accounts.log_in(get_session(), identity,
                               min_loa=p.required_loa(current_app.config["OIDC_MIN_LOA"]),
                               locale=chosen if chosen in current_app.config["LANGUAGES"] else None)
    except accounts.LoginRefused as exc:
        _log_failure("login refused", provider, exc.reason)
        session["oidc_prompt_login"] = p.name
        return _to_outcome({"page": "refused", "reason": exc.reason, "provider": p.name,
                            "status": 403})

    session.pop("auth_outcome", None)
    start_session(user, provider=p.name, id_token=id_token, idp_sid=claims.get("sid"))
    return redirect(safe_next(pending.get("next")) or _landing(user), code=303)


def _userinfo(client, token: dict) -> dict | None:
    """The userinfo endpoint's claims, None when the provider has none.

    Raises ``TokenRejected`` when it cannot be read."""
    endpoint = client.load_server_metadata().get("userinfo_endpoint")
    if not endpoint:
        return None
    try:
        response = client.get(endpoint, token=token, timeout=10)
    except Exception as exc:  # noqa: BLE001 - network errors of any kind
        raise TokenRejected("userinfo_unreachable", oauth_error=exc.__class__.__name__)
    if response.status_code != 200:
        challenge = response.headers.get("WWW-Authenticate", "")
        match = re.search(r'error="([^"]*)"', challenge)
        raise TokenRejected("userinfo_failed", oauth_error=_safe_code(match.group(1) if match else None)
                            or f"http_{response.status_code}")
    if "json" not in response.headers.get("Content-Type", ""):
        # A signed or encrypted userinfo response (application/jwt) is not supported.
        raise TokenRejected("userinfo_not_json")
    try:
        return response.json()
    except ValueError:
        raise TokenRejected("userinfo_not_json")


def _identity(p: Provider, claims: dict) -> accounts.Identity:
    def text(name):
        value = claims.get(p.claim(name))
        return value if isinstance(value, str) and value else None

    staff_role = p.map_role(claims.get(p.claim("roles")))
    municipality = None
    if p.kind == "citizen" or (p.kind == "mixed" and not staff_role):
        # Raises LookupFailed; None when nobody knows where the person lives.
        municipality = current_app.extensions["residence_lookup"].municipality_code(
            claims.get(p.claim("person_id")), claims.get(p.claim("municipality")))
    return accounts.Identity(
        issuer=p.issuer,
        subject=claims["sub"],
        provider=p.name,
        kind=p.kind,
        name=text("name") or "",
        email=text("email"),
        loa=text("loa"),
        municipality_code=municipality,
        staff_role=staff_role,
        authority_id=text("authority"),
        birth_date=birth_date(claims.get(p.claim("birthdate"))),
    )


def birth_date(value) -> date | None:
    """The date of a ``birthdate`` claim (YYYY-MM-DD); None when it is missing, has
    no year (``0000-MM-DD`` is allowed by OpenID Connect) or is not a past date."""
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        born = date.fromisoformat(value)
    except ValueError:
        return None
    return born if date(1880, 1, 1) <= born <= danish_today() else None


@bp.post("/logout")
def logout():
    """End the local session first, then log out at the provider (RP-initiated)."""
    provider, id_token = session.get("provider"), session.get("id_token")
    user = current_user._get_current_object() if current_user else None
    if user is not None:
        accounts.record_logout(get_session(), user, how="user")
    end_session()
    after = _base_url() + url_for("auth.logged_out")
    if provider and id_token:
        try:
            p = get_provider(provider)
            endpoint = get_client(p).load_server_metadata().get("end_session_endpoint")
        except ProviderError:
            endpoint = None
        if endpoint:
            params = {"id_token_hint": id_token, "post_logout_redirect_uri": after,
                      "client_id": p.client_id}
            sep = "&" if "?" in endpoint else "?"
            return redirect(endpoint + sep + urlencode(params), code=303)
    return redirect(after, code=303)


@bp.post("/stay")
@login_required
def stay():
    """"Stay logged in", from the warning shown before the idle limit (WCAG 2.2.1):
    the request itself counts as activity. 204 for htmx; back to the page without it."""
    if htmx:
        return "", 204
    return redirect(safe_next(request.form.get("next")) or url_for("main.index"), code=303)


@bp.get("/logged-out")
def logged_out():
    return render_template("auth/logged_out.html")


@bp.post("/backchannel-logout/<provider>")
@csrf.exempt
def backchannel_logout(provider: str):
    """OpenID Back-Channel Logout: end every session of the token's subject."""
    token = request.form.get("logout_token")
    if not token:
        return _backchannel_error(provider, "missing_token")
    try:
        p = get_provider(provider)
        client = get_client(p)
    except ProviderError:
        return _backchannel_error(provider, "provider_unavailable")
    try:
        claims = validate_logout_token(
            token,
            fetch_jwks=lambda force: client.fetch_jwk_set(force=force),
            issuer=p.issuer, client_id=p.client_id, now=now(),
            first_use=lambda jti, until: _first_use(p.name, jti, until),
        )
    except TokenRejected as exc:
        return _backchannel_error(provider, exc.reason)
    db = get_session()
    user = accounts.find_user(db, p.issuer, claims["sub"])
    ended = 0
    if user is not None:
        from portal.auth.sessions import end_all_sessions

        ended = end_all_sessions(current_app, user.id)
        if ended:  # after an RP-initiated logout the provider tells us again: no news
            accounts.record_logout(db, user, how="backchannel")
    log.info("back-channel logout: provider=%s sessions_ended=%d", provider, ended)
    response = jsonify(ended=ended)
    response.headers["Cache-Control"] = "no-store"
    return response


def _backchannel_error(provider: str, reason: str):
    log.warning("back-channel logout refused: provider=%s reason=%s", provider, reason)
    accounts.record_failed_login(get_session(), provider=provider, reason=reason,
                                 action="backchannel_logout_refused")
    response = jsonify(error="invalid_request", error_description=reason)
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response


def _first_use(provider: str, jti: str, until: float) -> bool:
    """Remember a logout token id until it expires; False if it was seen before.

    Kept in the session store's Redis, beside the sessions it ends: a logout must
    work while the queue's Redis is down."""
    from portal.redis_conn import session_redis

    key = f"{current_app.config['SESSION_KEY_PREFIX']}logout-jti:{provider}:{jti}"
    ttl = max(60, int(until - now()))
    return bool(session_redis().set(key, "1", nx=True, ex=ttl))
