"""Names shared by the identity provider tests and their fixtures."""

CLIENT_ID = "test-portal"
CLIENT_SECRET = "test-secret"  # noqa: S105
JWT_CLIENT_ID = "test-portal-jwt"
REDIRECT_URI = "http://127.0.0.1:9/auth/callback/dev"
POST_LOGOUT_URI = "http://127.0.0.1:9/auth/logged-out"
