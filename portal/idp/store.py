"""Small SQLite store of the development identity provider.

Authorization codes, access tokens, login sessions at the provider, used client
assertion ids and the test fault switch live in one file in the instance folder, so a
restart of a worker thread or a second portal process sees the same state.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS authorization_codes (
    code TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    person_id TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    auth_time INTEGER NOT NULL,
    sid TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS access_tokens (
    access_token TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS login_sessions (
    sid TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS session_clients (
    sid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    PRIMARY KEY (sid, client_id)
);
CREATE TABLE IF NOT EXISTS used_jtis (
    jti TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

CODE_LIFETIME = 600


class IdpStore:
    """Thin wrapper around one SQLite file; every call opens its own connection."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    @contextmanager
    def _connect(self):
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    # Authorization codes ------------------------------------------------------

    def save_code(self, **row) -> None:
        row.setdefault("created_at", time.time())
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._connect() as conn:
            conn.execute(f"INSERT INTO authorization_codes ({cols}) VALUES ({marks})",  # noqa: S608
                         tuple(row.values()))

    def get_code(self, code: str, client_id: str) -> dict | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM authorization_codes WHERE code = ? AND client_id = ?",
                (code, client_id),
            ).fetchone()
        if row is None or row["created_at"] + CODE_LIFETIME < time.time():
            return None
        return dict(row)

    def delete_code(self, code: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM authorization_codes WHERE code = ?", (code,))

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM authorization_codes WHERE client_id = ? AND nonce = ?",
                (client_id, nonce),
            ).fetchone()
        return row is not None

    # Access tokens -------------------------------------------------------------

    def save_access_token(self, access_token, client_id, person_id, scope, expires_in):
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO access_tokens VALUES (?, ?, ?, ?, ?)",
                (access_token, client_id, person_id, scope, time.time() + expires_in),
            )

    def get_access_token(self, access_token: str) -> dict | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM access_tokens WHERE access_token = ?", (access_token,)
            ).fetchone()
        if row is None or row["expires_at"] < time.time():
            return None
        return dict(row)

    # Login sessions at the provider -------------------------------------------

    def create_login_session(self, sid: str, person_id: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO login_sessions VALUES (?, ?, ?)",
                (sid, person_id, time.time()),
            )

    def get_login_session(self, sid: str) -> dict | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM login_sessions WHERE sid = ?", (sid,)).fetchone()
        return dict(row) if row else None

    def add_session_client(self, sid: str, client_id: str) -> None:
        with self._connect() as conn:
            conn.execute("INSERT OR IGNORE INTO session_clients VALUES (?, ?)", (sid, client_id))

    def end_login_session(self, sid: str) -> list[str]:
        """Delete the session; return the ids of the clients it had logged in to."""
        with self._connect() as conn:
            clients = [
                r["client_id"]
                for r in conn.execute("SELECT client_id FROM session_clients WHERE sid = ?", (sid,))
            ]
            conn.execute("DELETE FROM session_clients WHERE sid = ?", (sid,))
            conn.execute("DELETE FROM login_sessions WHERE sid = ?", (sid,))
        return clients

    # Client assertion replay protection ------------------------------------------

    def use_jti(self, jti: str, lifetime: float = 3600) -> bool:
        """Record a client assertion id; False when it was seen before."""
        now = time.time()
        with self._connect() as conn:
            conn.execute("DELETE FROM used_jtis WHERE expires_at < ?", (now,))
            try:
                conn.execute("INSERT INTO used_jtis VALUES (?, ?)", (jti, now + lifetime))
            except sqlite3.IntegrityError:
                return False
        return True

    # Settings (the test fault switch) -------------------------------------------

    def get_setting(self, name: str, default=None):
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_setting(self, name: str, value) -> None:
        with self._connect() as conn:
            if value is None:
                conn.execute("DELETE FROM settings WHERE name = ?", (name,))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO settings VALUES (?, ?)", (name, json.dumps(value))
                )

    def sids_of_person(self, person_id: str) -> list[str]:
        with self._connect() as conn:
            return [
                r["sid"]
                for r in conn.execute(
                    "SELECT sid FROM login_sessions WHERE person_id = ?", (person_id,)
                )
            ]
