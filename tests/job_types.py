"""Job types that exist only for the tests. The live worker loads them via JOB_TYPE_MODULES."""

import time

import redis
from django.conf import settings
from rest_framework import serializers

from jobs.registry import job_type


def effects_key(job_id) -> str:
    return f"tests:effects:{job_id}"


def effect_count(job_id) -> int:
    return int(redis.Redis.from_url(settings.CELERY_BROKER_URL).get(effects_key(job_id)) or 0)


class CountParams(serializers.Serializer):
    sleep_s = serializers.FloatField(min_value=0, max_value=5, default=0)


@job_type("test.count", params=CountParams)
def count(ctx, *, sleep_s):
    """Record one side effect per run in Redis, keyed by job id, so duplicates can be counted."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).incr(effects_key(ctx.job_id))
    time.sleep(sleep_s)
    return "counted"


@job_type("test.unserializable", params=serializers.Serializer)
def unserializable(ctx):
    """Return something JSON cannot hold."""
    return {1, 2, 3}
