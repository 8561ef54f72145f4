"""Who is logged in, and what they may do.

The session (server-side, in Redis: see ``sessions.py``) holds the user's id;
``current_user`` loads the user once per request. ``login_required`` and
``roles_required`` guard views; scoping of staff to their own authority happens in
the services, not here. Login itself is OpenID Connect (``views.py``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from werkzeug.local import LocalProxy

from portal.db import get_session
from portal.extensions import htmx
from portal.models import Role, User


def _load_user() -> User | None:
    if "current_user" not in g:
        user_id = session.get("user_id")
        g.current_user = get_session().get(User, user_id) if user_id else None
    return g.current_user


current_user: User | None = LocalProxy(_load_user)  # type: ignore[assignment]

# Session key: the visitor chose the session's language before logging in (see
# ``main.set_language``), so the login saves it as the person's own.
LOCALE_CHOSEN = "locale_chosen"
# Request header the polling elements send (``hx-headers``), naming themselves.
POLL_HEADER = "X-Indgang-Poll"


# Characters a browser reads as a slash, a backslash or a host separator when they
# come in another form (fullwidth solidus, division slash, ...): NFKC shows them.
_LOOK_ALIKE = frozenset("/\\.:@?#%")
# Percent-encoded bytes that mean a separator or a control character in a path.
_LOOK_ALIKE_NAME = re.compile(r"SOLIDUS|SLASH|FULL STOP|COMMERCIAL AT|COLON")
_ENCODED_BAD = re.compile(r"%(?:2f|5c|[01][0-9a-f]|7f)", re.IGNORECASE)
MAX_NEXT_LENGTH = 2000


def safe_next(target: str | None) -> str | None:
    r"""``target`` made into a path on this site to go to after a form or a login, or
    None when it is anything else (no open redirect).

    Refused: anything but a path starting with one ``/``; control characters and
    whitespace of every kind (browsers drop a tab or newline, so ``/\t/evil`` would
    become ``//evil``); backslashes (read as slashes); percent-encoded slashes,
    backslashes and control characters in the path; a scheme or a host (``//``,
    ``/\``, ``user@host``); characters that look like a separator in another form
    (``／``, ``∕``, ``。``, ...); longer than ``MAX_NEXT_LENGTH``. What is left is normalised:
    repeated slashes become one, ``.`` and ``..`` segments are resolved, other
    non-ASCII characters are percent-encoded.
    """
    if not isinstance(target, str) or not target.startswith("/") or len(target) > MAX_NEXT_LENGTH:
        return None
    for char in target:
        if char.isspace() or char == "\\" or unicodedata.category(char)[0] in "CZ":
            return None
        if not char.isascii() and (_LOOK_ALIKE.intersection(unicodedata.normalize("NFKC", char))
                                   or _LOOK_ALIKE_NAME.search(unicodedata.name(char, ""))):
            return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//") or _ENCODED_BAD.search(parts.path):
        return None
    segments: list[str] = []
    for segment in parts.path.split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    path = "/" + "/".join(segments)
    if parts.path.endswith(("/", "/.", "/..")) and segments:
        path += "/"
    result = quote(path, safe="/%!$&'()*+,;=:@-._~")
    if parts.query:
        result += "?" + quote(parts.query, safe="/?%!$&'()*+,;=:@-._~")
    if parts.fragment:
        result += "#" + quote(parts.fragment, safe="/?%!$&'()*+,;=:@-._~")
    return result


def login_required(view: Callable) -> Callable:
    """Send anonymous visitors to the login page, then back.

    An htmx request (a poll, a filter) gets 401 with ``HX-Redirect`` instead of a
    redirect: htmx would follow a redirect itself and swap the whole login page into
    the part it updates, but on ``HX-Redirect`` it sends the browser there.
    """

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if _load_user() is None:
            return _to_login()
        return view(*args, **kwargs)

    return wrapped


def _to_login():
    if not htmx:
        response = redirect(url_for("main.login", next=request.full_path.rstrip("?")))
    else:
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = url_for("main.login", next=_htmx_page())
    response.vary.add("HX-Request")
    return response


def _htmx_page() -> str:
    """Where an htmx request came from (its page on this site), to return to after
    login: the part it asked for is no page of its own."""
    from urllib.parse import urlsplit

    page = urlsplit(request.headers.get("HX-Current-URL", ""))
    if page.netloc == request.host and page.path.startswith("/"):
        return page.path + (f"?{page.query}" if page.query else "")
    return request.full_path.rstrip("?")


def is_background_poll() -> bool:
    """Whether this request is an htmx poll rather than something the person did.

    Polling elements send ``X-Indgang-Poll`` with their own id; the request counts
    as a poll only when that element itself fired it (``HX-Trigger``), so a link or
    form inside a polling element, which inherits the header, is still a click.
    """
    poller = request.headers.get(POLL_HEADER)
    return bool(poller and htmx and htmx.trigger == poller)


def roles_required(*roles: Role) -> Callable[[Callable], Callable]:
    """Allow only users with one of ``roles``; others get 403."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if _load_user().role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def start_session(user: User, **extra) -> None:
    """Log ``user`` in: a new session id (no fixation), the user's id and ``extra``.

    ``extra`` holds what logout needs later (provider name, ID token for the
    ``id_token_hint``, the provider's session id). The session's language becomes
    the user's saved one.
    """
    from portal.auth.sessions import now

    locale = session.get("locale")
    session.clear()
    if hasattr(session, "rotate"):
        session.rotate()
    session["user_id"] = user.id
    session["_created"] = session["_seen"] = now()
    session.update({k: v for k, v in extra.items() if v is not None})
    # The person's saved language, so it follows them from device to device (a
    # choice made in this browser before login has been saved as theirs by now).
    if user.locale in current_app.config["LANGUAGES"]:
        locale = user.locale
    if locale:
        session["locale"] = locale
    g.current_user = user


def end_session() -> None:
    """End the current session: its data is deleted from Redis, the cookie dropped."""
    from flask import current_app

    from portal.auth.sessions import _unindex

    if session.get("user_id"):
        _unindex(current_app, session["user_id"], getattr(session, "sid", ""))
    locale = session.get("locale")
    session.clear()
    if hasattr(session, "rotate"):
        session.rotate()
    if locale:
        session["locale"] = locale
    g.current_user = None


def _enforce_timeouts() -> None:
    """End a session idle for too long, or older than the absolute limit."""
    from flask import current_app

    from portal.auth.sessions import _seconds, now

    if request.endpoint == "static" or not session.get("user_id"):
        return
    t = now()
    if "_created" not in session:
        # Sessions live server-side, so only our own code (start_session, or a test
        # helper) can have written a user id: start its clocks now.
        session["_created"] = session["_seen"] = t
    idle = _seconds(current_app.config["SESSION_IDLE_TIMEOUT"])
    absolute = _seconds(current_app.config["PERMANENT_SESSION_LIFETIME"])
    if t - session.get("_seen", 0) > idle or t - session.get("_created", 0) > absolute:
        from portal.services.accounts import record_logout

        user = get_session().get(User, session["user_id"])
        end_session()
        if user is not None:
            record_logout(get_session(), user, how="timeout")
        flash(_("Your session has ended because of inactivity or age. Please log in again."),
              "info")
        return
    # Only what the person does keeps the session alive: a page left open polls for
    # ever, and must still be logged out after the idle limit.
    if not is_background_poll():
        session["_seen"] = t


def init_app(app: Flask) -> None:
    """Server-side sessions, timeouts and the configured OpenID providers."""
    from portal.auth import providers, sessions

    sessions.init_app(app)
    providers.init_app(app)
    app.before_request(_enforce_timeouts)

    origins = sorted({_origin(p.issuer) for p in app.extensions["oidc_providers"].values()})

    @app.after_request
    def _allow_logout_redirect(response):
        # The logout form posts to us and is redirected to the provider's end-session
        # endpoint; browsers check form-action along that redirect, so the providers'
        # origins must be allowed there. (Runs after security's CSP is set.)
        csp = response.headers.get("Content-Security-Policy")
        if csp and origins and "form-action 'self'" in csp:
            response.headers["Content-Security-Policy"] = csp.replace(
                "form-action 'self'", "form-action 'self' " + " ".join(origins), 1)
        return response

    @app.context_processor
    def _endpoints():
        return {"has_endpoint": lambda endpoint: endpoint in app.view_functions,
                # The page to come back to from the language switch and "stay logged
                # in": only ever a path on this site (a 404 for "//evil" is not one).
                "here": lambda: safe_next(request.full_path.rstrip("?")) or "/"}


def _origin(url: str) -> str:
    from urllib.parse import urlparse

    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}"


def register_blueprints(app: Flask) -> None:
    """The login views and their rate limits."""
    from portal.auth import limits
    from portal.auth.views import bp

    app.register_blueprint(bp)
    limits.init_app(app)
