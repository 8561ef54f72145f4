"""Server-side sessions in Redis.

The cookie holds only a random session id; the data lives in Redis under
``SESSION_KEY_PREFIX + id``. Logging out deletes the key, so a replayed cookie finds
nothing. Each logged-in user has an index of their session ids, so a back-channel
logout from the identity provider can end every session of that person.

Timeouts (30 minutes idle, 12 hours absolute by default) are checked against the
timestamps stored in the session with the app's clock (``config["CLOCK"]``, a
callable returning epoch seconds), so tests can freeze and move time.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta

import redis
from flask import Flask, current_app
from flask.sessions import SessionInterface, SessionMixin
from flask.sessions import session_json_serializer as serializer

log = logging.getLogger(__name__)

SID_BYTES = 32
USER_INDEX = "user-sessions:"


def now(app: Flask | None = None) -> float:
    """The app's clock (injectable for tests)."""
    clock = (app or current_app).config.get("CLOCK") or time.time
    return float(clock())


def _seconds(value) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ServerSession(dict, SessionMixin):
    """A session dict that remembers its id and which keys changed.

    Saving writes only the changed keys (the session is a Redis hash), so two requests
    of one session at once (a page and its htmx poll, a language switch and the
    favicon) cannot undo each other's changes, and a request that began before a
    logout cannot write the login back.
    """

    def __init__(self, initial=None, sid: str | None = None, new: bool = False):
        super().__init__(initial or {})
        self.sid = sid or secrets.token_urlsafe(SID_BYTES)
        self.new = new
        self.modified = False
        self.old_sids: list[str] = []
        self.changed: set[str] = set()

    def _changed(self, key) -> None:
        self.changed.add(key)
        self.modified = True

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self._changed(key)

    def __delitem__(self, key) -> None:
        super().__delitem__(key)
        self._changed(key)

    def pop(self, key, *default):
        if key in self:
            self._changed(key)
        return super().pop(key, *default)

    def popitem(self):
        key, value = super().popitem()
        self._changed(key)
        return key, value

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    def rotate(self) -> None:
        """Give the session a new id; the old one is deleted when the response is saved."""
        self.old_sids.append(self.sid)
        self.sid = secrets.token_urlsafe(SID_BYTES)
        self.modified = True


class RedisSessionInterface(SessionInterface):
    """Flask session interface storing session data in the app's Redis."""

    def _redis(self, app):
        from portal.redis_conn import session_redis

        return session_redis(app)

    def _key(self, app, sid: str) -> str:
        return app.config["SESSION_KEY_PREFIX"] + sid

    def open_session(self, app, request):
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and 20 <= len(sid) <= 100:
            try:
                raw = self._redis(app).hgetall(self._key(app, sid))
            except redis.ResponseError:
                raw = {}  # not a session hash (a stale key of another format): start afresh
            except redis.RedisError as exc:
                # Without Redis nobody is logged in, but public pages and health
                # checks still answer.
                log.warning("session store unavailable: %s", exc.__class__.__name__)
                session = ServerSession(new=True)
                session.unavailable = True
                return session
            if raw:
                try:
                    data = {k.decode("utf-8"): serializer.loads(v.decode("utf-8")) for k, v in raw.items()}
                    return ServerSession(data, sid=sid)
                except ValueError:
                    pass
        return ServerSession(new=True)

    def save_session(self, app, session: ServerSession, response):
        if getattr(session, "unavailable", False):
            return
        try:
            self._save(app, session, response)
        except redis.RedisError as exc:
            log.warning("session not saved, store unavailable: %s", exc.__class__.__name__)

    def _save(self, app, session: ServerSession, response):
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        # Every command goes in one pipeline: one round trip to Redis per response.
        r = self._redis(app).pipeline(transaction=False)
        for old in session.old_sids:
            r.delete(self._key(app, old))
            if session.get("user_id"):
                r.srem(USER_INDEX_KEY(app, session["user_id"]), old)
        if not session:
            # Empty: nothing worth keeping. Forget it and the cookie, if there was one.
            if not session.new:
                r.delete(self._key(app, session.sid))
            r.execute()
            if not session.new or session.old_sids:
                response.delete_cookie(name, domain=domain, path=path,
                                       secure=self.get_cookie_secure(app),
                                       httponly=True, samesite=self.get_cookie_samesite(app))
            return
        response.vary.add("Cookie")
        lifetime = _seconds(app.config["PERMANENT_SESSION_LIFETIME"])
        # Every request refreshes the key, so an idle session (anonymous ones too,
        # which exist for their CSRF token) disappears from Redis after the idle limit.
        idle = _seconds(app.config["SESSION_IDLE_TIMEOUT"])
        ttl = max(1, int(min(idle, lifetime)))
        key = self._key(app, session.sid)
        if session.new or session.old_sids:
            written, removed = list(session), []  # a new id: all of it
        elif session.changed:
            written = [k for k in session.changed if k in session]
            removed = [k for k in session.changed if k not in session]
        else:
            # Changed in place (session.modified set by hand): write every key there is.
            written, removed = (list(session), []) if session.modified else ([], [])
        if written:
            r.hset(key, mapping={k: serializer.dumps(session[k]) for k in written})
        if removed:
            r.hdel(key, *removed)
        r.expire(key, ttl)
        if session.get("user_id"):
            key = USER_INDEX_KEY(app, session["user_id"])
            r.sadd(key, session.sid)
            r.expire(key, int(lifetime))
        r.execute()
        # The cookie holds only the id and has no expiry: send it when the id is new.
        if session.new or session.old_sids:
            response.set_cookie(
                name, session.sid, domain=domain, path=path,
                httponly=True,  # always: no script reads the session id
                secure=self.get_cookie_secure(app),
                samesite=self.get_cookie_samesite(app),
            )

    def should_set_cookie(self, app, session):
        return True


def USER_INDEX_KEY(app: Flask, user_id) -> str:  # noqa: N802 - reads like a constant
    return f"{app.config['SESSION_KEY_PREFIX']}{USER_INDEX}{user_id}"


def _unindex(app: Flask, user_id, sid: str) -> None:
    if user_id:
        from portal.redis_conn import session_redis

        session_redis(app).srem(USER_INDEX_KEY(app, user_id), sid)


def end_all_sessions(app: Flask, user_id: int) -> int:
    """Delete every stored session of one user; returns how many there were."""
    from portal.redis_conn import session_redis

    r = session_redis(app)
    key = USER_INDEX_KEY(app, user_id)
    sids = [s.decode() if isinstance(s, bytes) else s for s in r.smembers(key)]
    if sids:
        r.delete(*(app.config["SESSION_KEY_PREFIX"] + s for s in sids))
    r.delete(key)
    return len(sids)


def init_app(app: Flask) -> None:
    app.config.setdefault("SESSION_KEY_PREFIX", "indgang:session:")
    app.config.setdefault("SESSION_IDLE_TIMEOUT", timedelta(minutes=30))
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=12))
    app.session_interface = RedisSessionInterface()
