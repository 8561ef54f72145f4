"""Who is logged in, and what they may do.

The session holds only the user's id; ``current_user`` loads the user once per
request. ``login_required`` and ``roles_required`` guard views; scoping of staff to
their own authority happens in the services, not here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort, g, redirect, request, session, url_for
from werkzeug.local import LocalProxy

from portal.db import get_session
from portal.models import Role, User


def _load_user() -> User | None:
    if "current_user" not in g:
        user_id = session.get("user_id")
        g.current_user = get_session().get(User, user_id) if user_id else None
    return g.current_user


current_user: User | None = LocalProxy(_load_user)  # type: ignore[assignment]


def login_required(view: Callable) -> Callable:
    """Send anonymous visitors to the login page, then back."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if _load_user() is None:
            return redirect(url_for("main.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


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


def start_session(user: User) -> None:
    """Log ``user`` in: a fresh session (no fixation), holding only the user's id."""
    locale = session.get("locale")
    session.clear()
    session["user_id"] = user.id
    if locale:
        session["locale"] = locale
    g.current_user = user
