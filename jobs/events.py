"""Live job events: each status or progress change is appended to a Redis stream per job.

A stream, rather than plain pub/sub, lets a listener that reconnects with `Last-Event-ID`
read what it missed, and lets a new listener take a snapshot and then read every change
after it without a gap. Streams are capped and expire, so they cost little memory.
"""

import json
import logging

import redis
import redis.asyncio
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

logger = logging.getLogger(__name__)

STREAM_MAX_EVENTS = 1000
STREAM_TTL_S = 24 * 3600
_client: redis.Redis | None = None


def stream_key(job_id) -> str:
    return f"jobs:events:{job_id}"


def redis_client() -> redis.Redis:
    """This process's client for the broker's Redis (events, locks)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5)
    return _client


def event_publish(*, job_id, kind: str, data: dict) -> None:
    """Append an event for listeners. Best effort: the job row, not the stream, is the truth."""
    key = stream_key(job_id)
    payload = json.dumps(data, cls=DjangoJSONEncoder)
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.xadd(key, {"kind": kind, "data": payload}, maxlen=STREAM_MAX_EVENTS, approximate=True)
        pipe.expire(key, STREAM_TTL_S)
        pipe.execute()
    except redis.RedisError:
        logger.warning("could not publish %s event for job %s", kind, job_id, exc_info=True)


def event_last_id(*, job_id) -> str:
    """The id of the newest event, or "0-0": reading after it yields only later events."""
    newest = redis_client().xrevrange(stream_key(job_id), count=1)
    return newest[0][0].decode() if newest else "0-0"


def event_exists_after(*, job_id, event_id: str) -> bool:
    """Whether the job's stream holds an event newer than `event_id`."""
    return bool(redis_client().xrange(stream_key(job_id), min=f"({event_id}", count=1))


def async_redis() -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(settings.CELERY_BROKER_URL)
