"""This process's client for the cache's Redis (CACHE_URL): throttle counters, the active-job estimate.

Plain redis-py rather than Django's cache API, so a counter costs one round trip (Django's
`cache.incr` asks whether the key exists first) and holds an integer, not a pickle.
"""

import redis
from django.conf import settings

# Short and explicit: these counters are an optimisation, and a slow Redis must not hold up a request.
SOCKET_TIMEOUT_S = 2

_client: redis.Redis | None = None


def cache_redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            settings.CACHES["default"]["LOCATION"],
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
        )
    return _client
