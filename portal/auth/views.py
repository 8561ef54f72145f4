"""Login with OpenID Connect, logout (local, RP-initiated and back-channel)."""

from __future__ import annotations

import logging
import secrets
from datetime import date
from urllib.parse import urlencode

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
from portal.auth.sessions import now
from portal.auth.tokens import TokenRejected, validate_id_token, validate_logout_token
from portal.db import get_session
from portal.extensions import csrf, htmx
from portal.services import accounts
from portal.services.deadlines import danish_today

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

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


def _failed(provider: str, reason: str, status: int = 400):
    """A login that failed for a technical or security reason: log, audit, plain page."""
    # Reason codes only: tokens, codes and claims never reach the log.
    log.warning("login failed: provider=%s reason=%s correlation_id=%s",
                provider, reason, g.get("correlation_id"))
    accounts.record_failed_login(get_session(), provider=provider, reason=reason)
    return render_template("auth/failed.html", reason=reason), status


@bp.get("/login/<provider>")
def login(provider: str):
    """Start the authorization code flow with state, nonce and PKCE S256."""
    try:
        p = get_provider(provider)
        client = get_client(p)
    except ProviderError as exc:
        log.warning("login not started: %s", exc)
        return _failed(provider, "provider_unavailable", 503)

    redirect_uri = _base_url() + url_for("auth.callback", provider=p.name)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(64)
    auth = client.create_authorization_url(
        redirect_uri, state=state, nonce=nonce, code_verifier=verifier,
        ui_locales=str(session.get("locale") or "da"),
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
        return _failed(provider, "state_mismatch")
    if request.args.get("error"):
        if request.args["error"] == "access_denied":
            return render_template("auth/cancelled.html"), 200
        return _failed(provider, "provider_error")
    code = request.args.get("code")
    if not code:
        return _failed(provider, "missing_code")

    try:
        p = get_provider(provider)
        client = get_client(p)
        token = client.fetch_access_token(
            redirect_uri=pending["redirect_uri"], code=code, code_verifier=pending["verifier"]
        )
    except ProviderError:
        return _failed(provider, "provider_unavailable", 503)
    except Exception as exc:  # the token endpoint said no, or could not be reached
        log.warning("token request failed: provider=%s error=%s", provider,
                    exc.__class__.__name__)
        return _failed(provider, "token_request_failed")
    id_token = token.get("id_token")
    if not id_token:
        return _failed(provider, "missing_id_token")
    try:
        claims = validate_id_token(
            id_token,
            fetch_jwks=lambda force: client.fetch_jwk_set(force=force),
            issuer=p.issuer, client_id=p.client_id, nonce=pending["nonce"], now=now(),
        )
    except TokenRejected as exc:
        return _failed(provider, exc.reason)

    identity = _identity(p, claims)
    # A language chosen in this browser before logging in becomes the person's own.
    chosen = session.get("locale") if session.get(LOCALE_CHOSEN) else None
    try:
        user = accounts.log_in(get_session(), identity,
                               min_loa=current_app.config["OIDC_MIN_LOA"],
                               locale=chosen if chosen in current_app.config["LANGUAGES"] else None)
    except accounts.LoginRefused as exc:
        log.info("login refused: provider=%s reason=%s", provider, exc.reason)
        return render_template("auth/refused.html", reason=exc.reason), 403

    start_session(user, provider=p.name, id_token=id_token, idp_sid=claims.get("sid"))
    return redirect(safe_next(pending.get("next")) or _landing(user), code=303)


def _identity(p: Provider, claims: dict) -> accounts.Identity:
    def text(name):
        value = claims.get(p.claim(name))
        return value if isinstance(value, str) and value else None

    municipality = claims.get(p.claim("municipality"))
    if isinstance(municipality, int):
        municipality = f"{municipality:03d}"
    return accounts.Identity(
        issuer=p.issuer,
        subject=claims["sub"],
        provider=p.name,
        kind=p.kind,
        name=text("name") or "",
        email=text("email"),
        loa=text("loa"),
        municipality_code=municipality if isinstance(municipality, str) and municipality else None,
        staff_role=p.map_role(claims.get(p.claim("roles"))),
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
