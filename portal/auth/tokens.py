"""Validation of ID tokens and back-channel logout tokens, step by step.

Each check that fails raises ``TokenRejected`` with a short reason code, which goes
into the audit row and the log (never the token itself).
"""

from __future__ import annotations

from collections.abc import Callable

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256", "PS256", "ES256"]
LEEWAY = 60  # seconds of clock skew we accept
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class TokenRejected(Exception):
    """A token failed validation; ``reason`` says which check (safe to log)."""

    def __init__(self, reason: str, oauth_error: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.oauth_error = oauth_error


def _verify_signature(token: str, fetch_jwks: Callable[[bool], dict]) -> dict:
    """Check the signature with the key named by ``kid``; return the claims."""
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise TokenRejected("malformed")
    if header.get("alg") not in ALGORITHMS:
        raise TokenRejected("bad_algorithm")
    kid = header.get("kid")
    if not kid:
        raise TokenRejected("missing_kid")
    keys = KeySet.import_key_set(fetch_jwks(False))
    if not any(k.kid == kid for k in keys.keys):
        # The provider may have rotated its keys: read the JWKS once more.
        keys = KeySet.import_key_set(fetch_jwks(True))
        if not any(k.kid == kid for k in keys.keys):
            raise TokenRejected("unknown_kid")
    try:
        decoded = jwt.decode(token, keys, algorithms=[header["alg"]])
    except BadSignatureError:
        raise TokenRejected("bad_signature")
    except (JoseError, ValueError):
        raise TokenRejected("malformed")
    return dict(decoded.claims)


def _check_audience(claims: dict, client_id: str) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise TokenRejected("wrong_aud")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise TokenRejected("wrong_azp")


def _number(claims: dict, name: str, reason: str) -> float:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TokenRejected(reason)
    return float(value)


def validate_id_token(
    token: str,
    *,
    fetch_jwks: Callable[[bool], dict],
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
) -> dict:
    """Validate an ID token (OpenID Connect Core 1.0 §3.1.3.7); return its claims.

    Checks: signature by ``kid`` from the provider's JWKS, ``iss`` exactly,
    ``aud`` (and ``azp``), ``exp``, ``iat`` not in the future, ``nonce``, ``sub``.
    Raises ``TokenRejected``.
    """
    claims = _verify_signature(token, fetch_jwks)
    if claims.get("iss") != issuer:
        raise TokenRejected("wrong_iss")
    _check_audience(claims, client_id)
    if _number(claims, "exp", "missing_exp") <= now - LEEWAY:
        raise TokenRejected("expired")
    if _number(claims, "iat", "missing_iat") > now + LEEWAY:
        raise TokenRejected("iat_in_future")
    if "nonce" not in claims:
        raise TokenRejected("missing_nonce")
    if not isinstance(claims["nonce"], str) or claims["nonce"] != nonce:
        raise TokenRejected("wrong_nonce")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRejected("missing_sub")
    return claims


def validate_logout_token(
    token: str,
    *,
    fetch_jwks: Callable[[bool], dict],
    issuer: str,
    client_id: str,
    now: float,
    first_use: Callable[[str, float], bool],
) -> dict:
    """Validate a back-channel logout token (OpenID Back-Channel Logout 1.0 §2.6).

    Checks the signature by ``kid``, ``iss``, ``aud``, ``iat``, ``exp`` if present,
    the back-channel logout event, that ``sub`` is present (we end sessions by
    subject), that there is no ``nonce``, and that ``jti`` was not seen before
    (``first_use(jti, expires_at)`` records it). Raises ``TokenRejected``.
    """
    claims = _verify_signature(token, fetch_jwks)
    if claims.get("iss") != issuer:
        raise TokenRejected("wrong_iss")
    _check_audience(claims, client_id)
    iat = _number(claims, "iat", "missing_iat")
    if iat > now + LEEWAY:
        raise TokenRejected("iat_in_future")
    if "exp" in claims and _number(claims, "exp", "missing_exp") <= now - LEEWAY:
        raise TokenRejected("expired")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise TokenRejected("wrong_events")
    if "nonce" in claims:
        raise TokenRejected("nonce_present")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRejected("missing_sub")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise TokenRejected("missing_jti")
    expires = float(claims["exp"]) if "exp" in claims else iat + 600
    if not first_use(jti, max(expires, now) + LEEWAY):
        raise TokenRejected("replayed_jti")
    return claims


def merge_userinfo(id_claims: dict, userinfo: dict | None) -> dict:
    """The ID token's claims with the userinfo response's added under them.

    Providers put profile claims (``name`` and the like) only at userinfo; the ID
    token is signed and wins for every claim it carries. The userinfo ``sub`` must
    be the ID token's (OpenID Connect Core 1.0 §5.3.2). Raises ``TokenRejected``.
    """
    if userinfo is None:
        return id_claims
    if not isinstance(userinfo, dict):
        raise TokenRejected("userinfo_malformed")
    if userinfo.get("sub") != id_claims.get("sub"):
        raise TokenRejected("userinfo_sub_mismatch")
    return {**userinfo, **id_claims}
