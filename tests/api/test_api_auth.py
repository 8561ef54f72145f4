"""Machine clients: tokens by client credentials (basic, post, private_key_jwt), token
errors as problems, scopes, revocation, and the admin CLI."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from portal.models import ApiClient, ApiToken, AuditEntry, AuditOutcome, User
from portal.models.api import API_CLIENT_ISSUER
from portal.models.base import utcnow
from portal.services.api_clients import ApiClientError, digest, revoke_client
from tests.api.conftest import ODENSE, Api, check, get_token, new_client

TOKEN_URL = "/api/v1/oauth/token"


def test_a_client_gets_a_bearer_token_with_basic_auth_and_it_works(client, odense):
    response = check(client.post(TOKEN_URL, data={"grant_type": "client_credentials"},
                                 auth=(odense.client.client_id, odense.secret)), "post")
    assert response.status_code == 200
    token = response.json
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert set(token["scope"].split()) == {"cases:read", "cases:write", "registry:read", "webhooks:manage"}
    assert response.headers["Cache-Control"] == "no-store"
    assert Api(client, token["access_token"]).get("/api/v1/cases").status_code == 200


def test_client_secret_post_works_for_a_client_registered_for_it(client, session):
    made = new_client(session, ODENSE, auth_method="client_secret_post")
    response = client.post(TOKEN_URL, data={"grant_type": "client_credentials",
                                            "client_id": made.client.client_id, "client_secret": made.secret})
    assert response.status_code == 200, response.json
    # The same client may not use a method it was not registered for.
    basic = client.post(TOKEN_URL, data={"grant_type": "client_credentials"},
                        auth=(made.client.client_id, made.secret))
    assert basic.status_code == 401


def test_only_a_digest_of_the_secret_and_the_token_is_stored(client, session, odense):
    token = get_token(client, odense)
    row = session.scalar(select(ApiClient).where(ApiClient.client_id == odense.client.client_id))
    assert row.secret_hash == digest(odense.secret) and odense.secret not in row.secret_hash
    stored = session.scalar(select(ApiToken).where(ApiToken.api_client_id == row.id))
    assert stored.token_hash == digest(token)


@pytest.mark.parametrize("case", ["wrong secret", "unknown client", "no credentials"])
def test_bad_client_credentials_get_one_401_problem(client, odense, case):
    auth = {"wrong secret": (odense.client.client_id, "nope"), "unknown client": ("nobody", "nope"),
            "no credentials": None}[case]
    response = check(client.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=auth), "post")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["error"] == "invalid_client"
    assert body["detail"] == "Client authentication failed."  # the same whether the client exists or not
    assert body["type"] == "urn:indgang:problem:oauth-invalid-client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_a_refused_token_request_is_audited_as_denied(client, session, odense):
    client.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(odense.client.client_id, "nope"))
    row = session.scalars(select(AuditEntry).where(AuditEntry.action == "api.token.denied")).all()[-1]
    assert row.outcome == AuditOutcome.DENY
    assert row.details["error"] == "invalid_client"


def test_unsupported_grant_type_is_a_400_problem(client, odense):
    response = check(client.post(TOKEN_URL, data={"grant_type": "password"},
                                 auth=(odense.client.client_id, odense.secret)), "post")
    assert response.status_code == 400
    assert response.json["error"] == "unsupported_grant_type"


def test_asking_for_a_scope_the_client_lacks_is_refused(client, session):
    made = new_client(session, ODENSE, scopes=["cases:read"])
    response = check(client.post(TOKEN_URL, data={"grant_type": "client_credentials", "scope": "cases:write"},
                                 auth=(made.client.client_id, made.secret)), "post")
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"


def test_a_token_without_the_scope_gets_403_naming_it(client, session):
    made = new_client(session, ODENSE, scopes=["registry:read"])
    api = Api(client, get_token(client, made))
    assert api.get("/api/v1/authorities").status_code == 200
    response = api.get("/api/v1/cases")
    assert response.status_code == 403
    assert response.json["required_scope"] == "cases:read"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    denied = session.scalars(select(AuditEntry).where(AuditEntry.action == "api.scope.denied")).all()
    assert len(denied) == 1 and denied[0].outcome == AuditOutcome.DENY
    assert denied[0].actor_id == made.client.user_id


def test_a_narrower_token_than_the_client_is_limited_to_what_it_asked(client, odense):
    api = Api(client, get_token(client, odense, scope="cases:read"))
    assert api.get("/api/v1/cases").status_code == 200
    assert api.post("/api/v1/cases/1/accept").status_code == 403


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc", "Bearer"])
def test_calls_without_a_valid_token_get_401_problems(client, header):
    headers = {"Authorization": header} if header else {}
    response = check(client.get("/api/v1/cases", headers=headers), "get")
    assert response.status_code == 401
    assert response.json["type"] == "urn:indgang:problem:unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(client, session, odense):
    token = get_token(client, odense)
    session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token))).expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert Api(client, token).get("/api/v1/cases").status_code == 401


def test_revoking_a_client_stops_its_tokens_and_new_ones(client, session, odense):
    token = get_token(client, odense)
    revoke_client(session, odense.client.client_id)
    assert Api(client, token).get("/api/v1/cases").status_code == 401
    response = client.post(TOKEN_URL, data={"grant_type": "client_credentials"},
                           auth=(odense.client.client_id, odense.secret))
    assert response.status_code == 401


# --- private_key_jwt ------------------------------------------------------------------


@pytest.fixture
def key_client(session):
    key = RSAKey.generate_key(2048, auto_kid=True)
    made = new_client(session, ODENSE, auth_method="private_key_jwt",
                      jwks={"keys": [key.as_dict(private=False)]})
    return made, key


def _assertion(key, client_id: str, audience: str, **claims) -> str:
    now = int(time.time())
    payload = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 120,
               "jti": f"jti-{time.monotonic_ns()}", **claims}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, payload, key)


def _jwt_request(client, assertion: str):
    return client.post(TOKEN_URL, data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    })


def test_private_key_jwt_gets_a_token_and_a_replayed_assertion_is_refused(client, key_client):
    made, key = key_client
    assert made.secret is None
    assertion = _assertion(key, made.client.client_id, "http://localhost/api/v1/oauth/token")
    first = check(_jwt_request(client, assertion), "post")
    assert first.status_code == 200, first.json
    assert Api(client, first.json["access_token"]).get("/api/v1/cases").status_code == 200
    replay = check(_jwt_request(client, assertion), "post")
    assert replay.status_code == 401
    assert replay.json["error"] == "invalid_client"


@pytest.mark.parametrize("problem", ["wrong audience", "expired", "other key", "unsigned", "secret as key"])
def test_bad_assertions_are_refused(client, key_client, problem):
    made, key = key_client
    audience = "http://localhost/api/v1/oauth/token"
    if problem == "wrong audience":
        assertion = _assertion(key, made.client.client_id, "https://elsewhere.test/token")
    elif problem == "expired":
        assertion = _assertion(key, made.client.client_id, audience, exp=int(time.time()) - 3600,
                               iat=int(time.time()) - 4000)
    elif problem == "other key":
        other = RSAKey.generate_key(2048, auto_kid=True)
        assertion = _assertion(other, made.client.client_id, audience)
    elif problem == "unsigned":
        signed = _assertion(key, made.client.client_id, audience)
        header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        assertion = f"{header}.{signed.split('.')[1]}."
    else:
        # HS256 keyed with the client's public key: the old algorithm-confusion trick
        # (built by hand: joserfc itself refuses to make it).
        import hashlib
        import hmac

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        now = int(time.time())
        claims = {"iss": made.client.client_id, "sub": made.client.client_id, "aud": audience,
                  "iat": now, "exp": now + 60, "jti": "confused"}
        header = b64(json.dumps({"alg": "HS256"}).encode())
        signing_input = header + "." + b64(json.dumps(claims).encode())
        mac = hmac.new(key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
        assertion = f"{signing_input}.{b64(mac)}"
    response = _jwt_request(client, assertion)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


# --- creating clients -------------------------------------------------------------------


def test_the_cli_creates_a_client_and_prints_the_secret_once(app, runner, session):
    result = runner.invoke(args=["api", "client", "create", "--authority", ODENSE,
                                 "--scopes", "cases:read,cases:write"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines() if line.startswith(("client_id", "client_secret")))
    client_id, secret = lines["client_id"].strip(), lines["client_secret"].strip()
    row = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    assert row.authority_id == ODENSE and row.scope == "cases:read cases:write"
    assert row.secret_hash == digest(secret)
    user = session.get(User, row.user_id)
    assert (user.issuer, user.subject, user.authority_id) == (API_CLIENT_ISSUER, client_id, ODENSE)
    listed = runner.invoke(args=["api", "client", "list"])
    assert client_id in listed.output and secret not in listed.output


def test_the_cli_refuses_unknown_scopes_and_authorities(runner):
    bad_scope = runner.invoke(args=["api", "client", "create", "--authority", ODENSE, "--scopes", "everything"])
    assert bad_scope.exit_code != 0 and "scopes must be among" in bad_scope.output
    bad_authority = runner.invoke(args=["api", "client", "create", "--authority", "nowhere", "--scopes", "cases:read"])
    assert bad_authority.exit_code != 0 and "unknown authority" in bad_authority.output


def test_a_private_key_client_needs_public_keys(session):
    with pytest.raises(ApiClientError):
        new_client(session, ODENSE, auth_method="private_key_jwt", jwks=None)


def test_the_cli_takes_a_jwks_file_for_private_key_jwt(runner, tmp_path):
    key = RSAKey.generate_key(2048, auto_kid=True)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    result = runner.invoke(args=["api", "client", "create", "--authority", ODENSE, "--scopes", "cases:read",
                                 "--auth-method", "private_key_jwt", "--jwks", str(path)])
    assert result.exit_code == 0, result.output
    assert "client_secret" not in result.output


def test_old_tokens_and_idempotency_keys_are_forgotten_when_a_token_is_issued(client, session, odense):
    from portal.models import IdempotencyRecord

    old = get_token(client, odense)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(old)))
    row.expires_at = utcnow() - timedelta(days=2)
    session.add(IdempotencyRecord(api_client_id=odense.client.id, key="k", method="POST", path="/x",
                                  request_hash="h", status_code=200, created_at=utcnow() - timedelta(days=2)))
    session.commit()
    fresh = get_token(client, odense)
    assert session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(old))) is None
    assert session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(fresh))) is not None
    assert session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "k")) is None


def test_guessing_secrets_is_slowed_by_a_limit_per_address(app, client, odense):
    app.config.update(RATELIMIT_ENABLED=True, API_TOKEN_RATE_LIMIT_PER_MINUTE=3)
    statuses = [client.post(TOKEN_URL, data={"grant_type": "client_credentials"},
                            auth=(odense.client.client_id, f"guess-{n}")).status_code for n in range(4)]
    assert statuses == [401, 401, 401, 429]
    right = check(client.post(TOKEN_URL, data={"grant_type": "client_credentials"},
                              auth=(odense.client.client_id, odense.secret)), "post")
    assert right.status_code == 429 and right.headers["Retry-After"]


def test_rotating_a_secret_revokes_tokens_and_the_old_secret(client, runner, session, odense):
    token = get_token(client, odense)
    result = runner.invoke(args=["api", "client", "rotate-secret", odense.client.client_id])
    assert result.exit_code == 0, result.output
    session.expire_all()  # the CLI wrote through a session of its own
    new_secret = result.output.split("client_secret:")[1].split()[0]
    assert Api(client, token).get("/api/v1/cases").status_code == 401
    old = client.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(odense.client.client_id, odense.secret))
    assert old.status_code == 401
    new = client.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(odense.client.client_id, new_secret))
    assert new.status_code == 200
