"""Authlib authorization server of the development identity provider.

Authlib's provider side needs a few corrections to behave like a real OpenID provider
(see docs/stack notes): ID tokens get ``iss`` and a ``kid`` header, PKCE S256 is
required of every client (Authlib only requires it of public clients), and
``private_key_jwt`` is registered as a client authentication method.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import session
from joserfc.jwk import KeySet

from .people import LOA_PREFIX, DemoPerson
from .store import IdpStore
from .tokens import ID_TOKEN_LIFETIME, TokenMinter

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")


@dataclass
class RegisteredClient:
    """A relying party registered at the provider (from the app config)."""

    client_id: str
    redirect_uris: list[str]
    client_secret: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"  # noqa: S105
    jwks: dict | None = None  # public keys, for private_key_jwt
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    scope: str = "openid profile"

    @classmethod
    def from_config(cls, data: dict) -> RegisteredClient:
        method = data.get("token_endpoint_auth_method", "client_secret_basic")
        if method not in AUTH_METHODS:
            raise ValueError(f"client {data.get('client_id')}: unsupported method {method}")
        if method == "private_key_jwt" and not data.get("jwks"):
            raise ValueError(f"client {data.get('client_id')}: private_key_jwt needs jwks")
        if method != "private_key_jwt" and not data.get("client_secret"):
            raise ValueError(f"client {data.get('client_id')}: client_secret missing")
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def client_metadata(self) -> dict:
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        if not self.client_secret or client_secret is None:
            return False
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method, endpoint):
        if endpoint == "token":
            return method == self.token_endpoint_auth_method
        return True

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode:
    """A stored authorization code, as Authlib's grant expects it."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    person_id: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    sid: str | None
    created_at: float = 0.0

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


class Provider:
    """Everything the provider knows: issuer, people, clients, store and signing."""

    def __init__(self, issuer, people, clients, store: IdpStore, minter: TokenMinter,
                 municipality_claim: str, loa_claim: str):
        self.issuer = issuer
        self.people = {p.id: p for p in people}
        self.clients = {c.client_id: c for c in clients}
        self.store = store
        self.minter = minter
        self.municipality_claim = municipality_claim
        self.loa_claim = loa_claim

    def person_by_sub(self, sub: str) -> DemoPerson | None:
        return next((p for p in self.people.values() if p.sub == sub), None)

    def claims_for(self, person: DemoPerson) -> dict:
        """The identity claims of a person, as the ID token and userinfo carry them."""
        claims = {
            "sub": person.sub,
            "name": person.name,
            "given_name": person.given_name,
            "family_name": person.family_name,
        }
        if person.kind == "citizen":
            claims[self.loa_claim] = LOA_PREFIX + (person.loa or "Low")
            if person.municipality_code:
                claims[self.municipality_claim] = person.municipality_code
        else:
            claims["roles"] = list(person.roles)
            if person.authority:
                claims["authority"] = person.authority
            if person.email:
                claims["email"] = person.email
        claims.update(person.extra_claims)
        return claims


class RequireS256ForAll(CodeChallenge):
    """PKCE with S256 for every client, confidential ones included."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'",
                                      redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE requires code_challenge_method=S256",
                                      redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


def build_authorization_server(app, provider: Provider) -> AuthorizationServer:
    """Wire Authlib's server to the provider's clients, people and store."""

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

        def save_authorization_code(self, code, request):
            data = request.payload.data
            provider.store.save_code(
                code=code,
                client_id=request.payload.client_id,
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.payload.scope or "",
                person_id=request.user.id,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=int(session.get("auth_time") or time.time()),
                sid=session.get("sid"),
            )

        def query_authorization_code(self, code, client):
            row = provider.store.get_code(code, client.client_id)
            return AuthorizationCode(**row) if row else None

        def delete_authorization_code(self, authorization_code):
            provider.store.delete_code(authorization_code.code)

        def authenticate_user(self, authorization_code):
            person = provider.people.get(authorization_code.person_id)
            # The token request carries the login session of the code along.
            self.request.idp_sid = authorization_code.sid
            return person

    class IdToken(OpenIDCode):
        def exists_nonce(self, nonce, request):
            return provider.store.nonce_used(request.payload.client_id, nonce)

        def get_client_claims(self, client):
            # Authlib leaves iss out; a relying party must check it exactly.
            now = int(time.time())
            return {"iss": provider.issuer, "aud": client.get_client_id(),
                    "iat": now, "exp": now + ID_TOKEN_LIFETIME}

        def get_encode_header(self, client):
            return {"alg": "RS256", "kid": provider.minter.key.kid}

        def resolve_client_private_key(self, client):
            return provider.minter.key

        def get_authorization_code_claims(self, authorization_code):
            claims = super().get_authorization_code_claims(authorization_code)
            if authorization_code.sid:
                claims["sid"] = authorization_code.sid
            return claims

        def generate_user_info(self, user, scope):
            return UserInfo(provider.claims_for(user))

        def encode_id_token(self, token, request):
            # Same claims as Authlib builds, signed by the minter (faults included).
            claims = self.get_compatible_claims(request)
            claims.update(self.get_authorization_code_claims(request.authorization_code))
            if token.get("access_token"):
                claims["at_hash"] = create_half_hash(token["access_token"], "RS256").decode()
            claims.update(self.generate_user_info(request.user, token["scope"]))
            return provider.minter.mint_id_token(claims)

    class PrivateKeyJWT(JWTBearerClientAssertion):
        CLIENT_AUTH_METHOD = "private_key_jwt"

        def get_audiences(self):
            return [provider.issuer + "/token", provider.issuer]

        def validate_jti(self, claims, jti):
            return provider.store.use_jti(f"{claims['sub']}:{jti}")

        def resolve_client_public_key(self, client):
            return KeySet.import_key_set(client.jwks)

    def query_client(client_id):
        return provider.clients.get(client_id)

    def save_token(token, request):
        provider.store.save_access_token(
            token["access_token"], request.client.client_id, request.user.id,
            token.get("scope", ""), token.get("expires_in", 3600),
        )

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(CodeGrant, [IdToken(require_nonce=True), RequireS256ForAll()])
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
    return server


class EndSession(EndSessionEndpoint):
    """RP-initiated logout; the view ends the provider session itself."""

    provider: Provider

    def get_server_jwks(self):
        return self.provider.minter.public_jwks()

    def get_algorithms(self):
        return ["RS256"]

    def end_session(self, end_session_request):
        # The view ends the login session and notifies relying parties.
        pass
