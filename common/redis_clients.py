"""This process's Redis clients, one per purpose, each created on first use.

- `redis_client()`: the Redis of the job events (SSE streams) and the locks (REDIS_URL).
- `cache_redis()`: the cache's Redis (CACHE_URL): throttle counters, the active-job estimate.
  Plain redis-py rather than Django's cache API, so a counter costs one round trip (Django's
  `cache.incr` asks whether the key exists first) and holds an integer, not a pickle.
"""

import redis
from django.conf import settings

# Short and explicit: the counters are an optimisation, and a slow Redis must not hold up a request.
CACHE_SOCKET_TIMEOUT_S = 2

_events_client: redis.Redis | None = None
_cache_client: redis.Redis | None = None


def redis_url() -> str:
    """The Redis that holds the job event streams and the locks (REDIS_URL: the broker's, if
    the broker is Redis)."""
    return settings.REDIS_URL


def redis_client() -> redis.Redis:
    global _events_client
    if _events_client is None:
        _events_client = redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=3)
    return _events_client


def cache_redis() -> redis.Redis:
    global _cache_client
    if _cache_client is None:
        _cache_client = redis.Redis.from_url(
            settings.CACHES["default"]["LOCATION"],
            socket_timeout=CACHE_SOCKET_TIMEOUT_S,
            socket_connect_timeout=CACHE_SOCKET_TIMEOUT_S,
        )
    return _cache_client
