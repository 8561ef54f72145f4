"""OAuth 2 for machine clients: the token endpoint and bearer-token protection.

Built from Authlib's pieces: its Flask ``AuthorizationServer`` with the client
credentials grant (``client_secret_basic``, ``client_secret_post`` and
``private_key_jwt`` per RFC 7523), and its ``ResourceProtector`` with a bearer token
validator. Errors leave as problem+json that also carries the OAuth ``error`` and
``error_description`` members, so OAuth client libraries read them as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app, g, request, url_for
from joserfc.jwk import KeySet

from portal.api import ratelimit
from portal.api.problems import ApiProblem, problem
from portal.db import get_session
from portal.models import ApiClient, AuditOutcome
from portal.models.api import SCOPES
from portal.services import api_clients

TOKEN_LIFETIME_SECONDS = 3600


class ClientCredentials(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_requested_scope(self):
        # A client asking for more than it was given is refused, not silently trimmed.
        super().validate_requested_scope()
        asked = set((self.request.payload.scope or "").split())
        if asked - self.request.client.scopes:
            raise InvalidScopeError(description="The client may not ask for: "
                                    + " ".join(sorted(asked - self.request.client.scopes)))


class PrivateKeyJWT(JWTBearerClientAssertion):
    """``private_key_jwt``: a JWT signed with the client's key, used once (jti)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self):
        token_url = url_for("api.token", _external=True)
        configured = current_app.config.get("BASE_URL", "").rstrip("/") + "/api/v1/oauth/token"
        return list(dict.fromkeys([token_url, configured]))

    def resolve_client_public_key(self, client: ApiClient):
        return KeySet.import_key_set(client.jwks or {"keys": []})

    def validate_jti(self, claims, jti):
        # Redis SET NX: a replayed assertion within its lifetime is refused.
        from portal.redis_conn import get_redis

        ttl = max(60, int(claims.get("exp", 0)) - int(claims.get("iat", 0)) + self.leeway)
        key = f"indgang:api:jti:{claims['sub']}:{jti}"
        return bool(get_redis().set(key, 1, nx=True, ex=min(ttl, 86400)))


class ApiAuthorizationServer(AuthorizationServer):
    def handle_error_response(self, request, error: OAuth2Error):
        client_id = getattr(getattr(request, "client", None), "client_id", None)
        _audit_denied_token(error, client_id)
        status = error.status_code
        headers = {}
        description = error.get_error_description() or error.error
        if error.error == "invalid_client":
            # One answer whether the client is unknown or the secret wrong.
            status = 401
            description = "Client authentication failed."
            headers["WWW-Authenticate"] = 'Basic realm="indgang-api"'
        return problem(status, description, slug=f"oauth-{error.error.replace('_', '-')}",
                       title="Token request refused", headers=headers,
                       error=error.error, error_description=description)


def _audit_denied_token(error: OAuth2Error, client_id: str | None) -> None:
    from portal.services import audit

    session = get_session()
    session.rollback()
    audit.record(session, actor=None, action="api.token.denied", outcome=AuditOutcome.DENY,
                 details={"error": error.error, "client_id": client_id})
    session.commit()


def _query_client(client_id: str) -> ApiClient | None:
    if not isinstance(client_id, str) or "\x00" in client_id or len(client_id) > 64:
        return None
    return api_clients.find_client(get_session(), client_id)


def _save_token(token: dict, request) -> None:
    api_clients.store_token(get_session(), request.client, token)


class _TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        return api_clients.find_token(get_session(), token_string)


def init_app(app) -> None:
    """Create the authorization server and resource protector of ``app``."""
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"client_credentials": TOKEN_LIFETIME_SECONDS})
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SCOPES))
    server = ApiAuthorizationServer(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(ClientCredentials)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
    protector = ResourceProtector()
    protector.register_token_validator(_TokenValidator(realm="indgang-api"))
    app.extensions["api_oauth_server"] = server
    app.extensions["api_resource_protector"] = protector


def authorization_server() -> ApiAuthorizationServer:
    return current_app.extensions["api_oauth_server"]


def current_client() -> ApiClient:
    """The client of the current API call (set by ``require_scope``)."""
    return g.api_client


def require_scope(scope: str) -> Callable[[Callable], Callable]:
    """Let the view run only for a valid bearer token carrying ``scope``.

    No or a bad token gives 401 with ``WWW-Authenticate: Bearer``; a good token
    without the scope gives 403 naming the scope needed.
    """

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            protector: ResourceProtector = current_app.extensions["api_resource_protector"]
            try:
                token = protector.acquire_token([scope])
            except OAuth2Error as error:
                if error.error == "insufficient_scope":
                    _audit_scope_denied(scope)
                raise _token_problem(error, scope)
            g.api_client = token.client
            g.api_token = token
            ratelimit.check(f"client:{token.client.client_id}")
            return view(*args, **kwargs)

        wrapped.required_scope = scope
        return wrapped

    return decorate


def _audit_scope_denied(scope: str) -> None:
    """A known client asked for what its token does not allow: a ``denied`` row."""
    header = request.headers.get("Authorization", "")
    token = api_clients.find_token(get_session(), header.removeprefix("Bearer ").strip())
    if token is not None:
        session = get_session()
        api_clients.audit_call(session, token.client, "api.scope.denied", outcome=AuditOutcome.DENY,
                               details={"required_scope": scope, "path": request.path})
        session.commit()


def _token_problem(error: OAuth2Error, scope: str) -> ApiProblem:
    if error.error == "insufficient_scope":
        return ApiProblem(403, f"This token lacks the scope {scope!r} that this call needs.",
                          slug="insufficient-scope", title="Insufficient scope",
                          headers={"WWW-Authenticate": f'Bearer realm="indgang-api", error="insufficient_scope", scope="{scope}"'},
                          required_scope=scope)
    if error.error == "missing_authorization":
        detail = "Send a bearer token in the Authorization header (get one at /api/v1/oauth/token)."
        header = 'Bearer realm="indgang-api"'
    elif error.error == "unsupported_token_type":
        detail = "Only bearer tokens are accepted: send 'Authorization: Bearer <token>'."
        header = 'Bearer realm="indgang-api"'
    else:
        detail = "The bearer token is unknown, expired or revoked: get a new one at /api/v1/oauth/token."
        header = 'Bearer realm="indgang-api", error="invalid_token"'
    return ApiProblem(401, detail, slug="unauthorized", title="Unauthorized",
                      headers={"WWW-Authenticate": header})


def token_response():
    """The token endpoint's response (client credentials grant)."""
    ratelimit.check(f"token:{request.remote_addr}", int(current_app.config.get("API_TOKEN_RATE_LIMIT_PER_MINUTE", 60)))
    return authorization_server().create_token_response(request)
