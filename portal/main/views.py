"""Pages every visitor sees."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect

from portal.auth import LOCALE_CHOSEN, current_user, safe_next
from portal.db import get_session
from portal.services import accounts
from portal.services.registry import authorities_on

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    return render_template("index.html", user=current_user)


@bp.get("/login")
def login():
    """Where anonymous visitors are sent; the login blueprint takes over from here."""
    providers = current_app.config.get("OIDC_PROVIDERS") or []
    return render_template("login.html", providers=providers, next=_safe_next())


@bp.post("/language")
def set_language():
    """Switch language (a form post, so it works without JavaScript).

    A logged-in person's choice is saved on their user, so their e-mails follow it
    and their next login on another device starts in it; an anonymous visitor's is
    marked as chosen, so logging in from this browser saves it then.
    """
    chosen = request.form.get("locale")
    if chosen in current_app.config["LANGUAGES"]:
        session["locale"] = chosen
        if current_user:
            accounts.set_locale(get_session(), current_user, chosen)
        else:
            session[LOCALE_CHOSEN] = True
    return redirect(_page_for(_safe_next()) or url_for("main.index"), code=303)


def _page_for(target: str | None) -> str | None:
    """The page to show again after switching language. A page shown in answer to a
    POST (a form with errors) has an address that takes no GET: go up its path to the
    nearest page that does (``/cases/5/accept`` -> ``/cases/5``), rather than to a 405."""
    if target is None:
        return None
    adapter = current_app.url_map.bind("")
    path = urlsplit(target).path
    try:
        adapter.match(path, method="GET")
        return target
    except MethodNotAllowed:
        pass
    except HTTPException:  # not a page of ours (404) or a redirect: show what it shows
        return target
    while "/" in path.rstrip("/"):
        path = path.rstrip("/").rsplit("/", 1)[0] or "/"
        try:
            adapter.match(path, method="GET")
            return path
        except RequestRedirect as redirected:  # e.g. "/cases" -> "/cases/"
            return urlsplit(redirected.new_url).path
        except HTTPException:
            continue
    return None


def _safe_next() -> str | None:
    """The request's ``next``, if it is a path on this site."""
    return safe_next(request.values.get("next"))


def _operator() -> dict:
    """The operator's name, e-mail and (from OPERATOR_TEXT_FILE, JSON) longer texts."""
    config = current_app.config
    texts = {}
    if config.get("OPERATOR_TEXT_FILE"):
        path = Path(config["OPERATOR_TEXT_FILE"])
        if path.is_file():
            texts = json.loads(path.read_text(encoding="utf-8"))
    return {"name": config["OPERATOR_NAME"], "email": config["OPERATOR_EMAIL"], "texts": texts}


@bp.get("/tilgaengelighed")
def accessibility():
    return render_template("pages/accessibility.html", operator=_operator())


@bp.get("/privatliv")
def privacy_notice():
    return render_template("pages/privacy.html", operator=_operator())


@bp.get("/cookies")
def cookies():
    return render_template(
        "pages/cookies.html", operator=_operator(),
        session_cookie=current_app.config["SESSION_COOKIE_NAME"],
        lifetime_hours=int(current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() // 3600),
    )


@bp.get("/hjaelp")
def help():
    authorities = authorities_on(get_session(), date.today())
    return render_template("pages/help.html", operator=_operator(), authorities=authorities)
