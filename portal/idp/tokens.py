"""Signing keys, token minting and the test fault switch of the development provider.

Every ID token and logout token the provider issues is signed here, so the faults a
test asks for (a bad signature, a wrong issuer, a replayed jti, ...) are applied in one
place, on tokens that otherwise look exactly like the good ones.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from .store import IdpStore

ID_TOKEN_FAULTS = (
    "bad_signature",
    "unknown_kid",
    "wrong_iss",
    "wrong_aud",
    "expired",
    "iat_future",
    "missing_nonce",
    "wrong_nonce",
)
LOGOUT_TOKEN_FAULTS = (
    "bad_signature",
    "wrong_iss",
    "wrong_aud",
    "missing_sub",
    "wrong_events",
    "with_nonce",
    "replayed_jti",
)
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ID_TOKEN_LIFETIME = 300
LOGOUT_TOKEN_LIFETIME = 120


def _new_key() -> RSAKey:
    return RSAKey.generate_key(
        2048, {"use": "sig", "alg": "RS256"}, private=True, auto_kid=True
    )


def load_or_create_key(path: str | Path) -> RSAKey:
    """The provider's signing key, kept in the instance folder across restarts."""
    path = Path(path)
    if path.exists():
        return RSAKey.import_key(json.loads(path.read_text(encoding="utf-8")))
    key = _new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(key.as_dict(private=True)), encoding="utf-8")
    path.chmod(0o600)
    return key


class TokenMinter:
    """Signs ID tokens and logout tokens with the provider key, faults included."""

    def __init__(self, issuer: str, key: RSAKey, store: IdpStore):
        self.issuer = issuer
        self.key = key
        self.store = store
        # A key the provider never publishes, for the bad-signature faults.
        self._stray_key = _new_key()

    def public_jwks(self) -> dict:
        return KeySet([self.key]).as_dict(private=False)

    def public_keyset(self) -> KeySet:
        return KeySet.import_key_set(self.public_jwks())

    # Fault switch ------------------------------------------------------------------

    def faults(self) -> dict:
        return self.store.get_setting("faults", {}) or {}

    def set_faults(self, id_token: str | None = None, logout_token: str | None = None):
        if id_token is not None and id_token not in ID_TOKEN_FAULTS:
            raise ValueError(f"unknown ID token fault {id_token!r}")
        if logout_token is not None and logout_token not in LOGOUT_TOKEN_FAULTS:
            raise ValueError(f"unknown logout token fault {logout_token!r}")
        value = {k: v for k, v in (("id_token", id_token), ("logout_token", logout_token)) if v}
        self.store.set_setting("faults", value or None)

    # Signing ----------------------------------------------------------------------------

    def _sign(self, claims: dict, typ: str | None, fault: str | None) -> str:
        header = {"alg": "RS256", "kid": self.key.kid}
        if typ:
            header["typ"] = typ
        key = self.key
        if fault == "bad_signature":
            key = self._stray_key  # signed by another key under the published kid
        elif fault == "unknown_kid":
            key = self._stray_key
            header["kid"] = self._stray_key.kid
        return jwt.encode(header, claims, key, algorithms=["RS256"])

    def mint_id_token(self, claims: dict, fault: str | None = None) -> str:
        """Sign ID token claims (iss, aud, exp, iat, nonce ... already set).

        With ``fault`` (or the stored fault switch) the token is spoiled in that way.
        """
        fault = fault or self.faults().get("id_token")
        claims = dict(claims)
        now = int(time.time())
        if fault == "wrong_iss":
            claims["iss"] = self.issuer + "/not-the-issuer"
        elif fault == "wrong_aud":
            claims["aud"] = "some-other-client"
        elif fault == "expired":
            claims["iat"] = now - 2 * 3600
            claims["auth_time"] = claims["iat"]
            claims["exp"] = now - 3600
        elif fault == "iat_future":
            claims["iat"] = now + 3600
            claims["exp"] = now + 3600 + ID_TOKEN_LIFETIME
        elif fault == "missing_nonce":
            claims.pop("nonce", None)
        elif fault == "wrong_nonce":
            claims["nonce"] = uuid.uuid4().hex
        return self._sign(claims, None, fault)

    def mint_logout_token(
        self, client_id: str, sub: str | None, sid: str | None, fault: str | None = None
    ) -> str:
        """A back-channel logout token for one client (OpenID Back-Channel Logout 1.0)."""
        fault = fault or self.faults().get("logout_token")
        now = int(time.time())
        jti = uuid.uuid4().hex
        if fault == "replayed_jti":
            jti = self.store.get_setting("last_logout_jti") or jti
        claims = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_LIFETIME,
            "jti": jti,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        if sub:
            claims["sub"] = sub
        if sid:
            claims["sid"] = sid
        if fault == "wrong_iss":
            claims["iss"] = self.issuer + "/not-the-issuer"
        elif fault == "wrong_aud":
            claims["aud"] = "some-other-client"
        elif fault == "missing_sub":
            claims.pop("sub", None)
            claims.pop("sid", None)
        elif fault == "wrong_events":
            claims["events"] = {"http://schemas.openid.net/event/something-else": {}}
        elif fault == "with_nonce":
            claims["nonce"] = uuid.uuid4().hex
        self.store.set_setting("last_logout_jti", jti)
        return self._sign(claims, "logout+jwt", fault)
