"""The shared Redis client for leases and previews (the cache and Channels have their own)."""

from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=3,
        socket_connect_timeout=3,
        health_check_interval=15,
        retry_on_timeout=True,
    )
