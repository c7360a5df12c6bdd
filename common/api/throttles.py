"""Per-user request throttling in one Redis round trip, never turning a Redis outage into refused work.

DRF's stock throttles keep every request's timestamp in a cached list and read and write the
whole list on each request: two round trips, and a list of up to 6,000 timestamps at the
default rate. These count requests in fixed windows instead, with one INCR (and EXPIRE, for a
new window) in a Lua script: one round trip. A client can send up to twice its rate across a
window boundary, which is what a fixed window trades for its cost.

The counters live in the cache's Redis (CACHE_URL). If Redis is down, requests are let
through: the job ledger is in PostgreSQL and accepts the job, which runs once Redis is back.
"""

import logging
import time

import redis
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from common.redis_clients import cache_redis

logger = logging.getLogger(__name__)

_COUNT_REQUEST = """
local count = redis.call('incr', KEYS[1])
if count == 1 then redis.call('expire', KEYS[1], ARGV[1]) end
return count
"""


class FixedWindow:
    def allow_request(self, request, view):
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        self._window_ends = (window + 1) * self.duration - now
        key = f"throttle:{ident}:{window}"
        try:
            count = cache_redis().eval(_COUNT_REQUEST, 1, key, int(self.duration) + 1)
        except redis.RedisError:
            logger.warning("throttling is off while Redis is unreachable")
            return True
        return count <= self.num_requests

    def wait(self):
        return self._window_ends


class UserThrottle(FixedWindow, UserRateThrottle):
    pass


class AnonThrottle(FixedWindow, AnonRateThrottle):
    pass
