"""A fixed-window request limit per API client (and per address at the token endpoint),
counted in Redis so every web process shares it."""

from __future__ import annotations

import time

from flask import current_app
from redis.exceptions import RedisError

from portal.api.problems import ApiProblem


def check(bucket: str, per_minute: int | None = None) -> None:
    """Raise a 429 problem when ``bucket`` has used its calls for this minute.

    With Redis down the limit is not enforced: the API stays up (logged by redis-py).
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    limit = per_minute or int(current_app.config.get("API_RATE_LIMIT_PER_MINUTE", 600))
    from portal.redis_conn import get_redis

    window = int(time.time() // 60)
    key = f"indgang:api:rate:{bucket}:{window}"
    try:
        redis = get_redis()
        pipe = redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = pipe.execute()
    except RedisError:
        return
    if count > limit:
        retry_after = 60 - int(time.time() % 60)
        raise ApiProblem(429, f"More than {limit} calls a minute: retry after {retry_after} seconds.",
                         slug="rate-limited", title="Too many requests",
                         headers={"Retry-After": str(retry_after)})
