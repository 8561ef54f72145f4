"""Pages every visitor sees."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from portal.auth import current_user

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
    """Switch language (a form post, so it works without JavaScript)."""
    chosen = request.form.get("locale")
    if chosen in current_app.config["LANGUAGES"]:
        session["locale"] = chosen
    return redirect(_safe_next() or url_for("main.index"), code=303)


def _safe_next() -> str | None:
    """A ``next`` target only if it is a path on this site (no open redirect)."""
    target = request.values.get("next") or ""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
