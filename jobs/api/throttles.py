"""Per-user request throttling that never turns a Redis outage into refused work.

The counters live in Redis (the cache). If Redis is down, requests are let through: the job
ledger is in PostgreSQL and accepts the job, which runs once Redis is back.
"""

import logging

import redis
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class FailOpen:
    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except redis.RedisError:
            logger.warning("throttling is off while Redis is unreachable")
            return True


class UserThrottle(FailOpen, UserRateThrottle):
    pass


class AnonThrottle(FailOpen, AnonRateThrottle):
    pass
