"""Job types that exist only for the tests. The live worker loads them via JOB_TYPE_MODULES."""

import logging
import time

import redis
from django.conf import settings
from rest_framework import serializers

from jobs.models import Job
from jobs.types import job_type


def effects_key(job_id) -> str:
    return f"tests:effects:{job_id}"


def effect_count(job_id) -> int:
    return int(redis.Redis.from_url(settings.REDIS_URL).get(effects_key(job_id)) or 0)


class CountParams(serializers.Serializer):
    sleep_s = serializers.FloatField(min_value=0, max_value=5, default=0)


@job_type("test.count", params=CountParams)
def count(ctx, *, sleep_s):
    """Record one side effect per run in Redis, keyed by job id, so duplicates can be counted."""
    redis.Redis.from_url(settings.REDIS_URL).incr(effects_key(ctx.job_id))
    time.sleep(sleep_s)
    return "counted"


@job_type("test.infinite", params=serializers.Serializer)
def infinite(ctx):
    """Return a float that strict JSON cannot hold."""
    return {"mean": float("inf")}


@job_type("test.unserializable", params=serializers.Serializer)
def unserializable(ctx):
    """Return something JSON cannot hold."""
    return {1, 2, 3}


class FlakyParams(serializers.Serializer):
    failures = serializers.IntegerField(min_value=0, max_value=5)


@job_type("test.flaky", params=FlakyParams, retry_on=(ConnectionError,), max_retries=3, backoff_s=0.2)
def flaky(ctx, *, failures):
    """Fail with a retryable ConnectionError on the first `failures` attempts, then succeed."""
    if ctx.job.attempts <= failures:
        raise ConnectionError(f"transient failure on attempt {ctx.job.attempts}")
    return ctx.job.attempts


class SleepParams(serializers.Serializer):
    seconds = serializers.FloatField(min_value=0, max_value=60)


@job_type("test.sleep", params=SleepParams)
def sleep(ctx, *, seconds):
    """Sleep without checking for cancellation, so a cancel has to terminate it."""
    ctx.progress(0, 1, "sleeping")
    time.sleep(seconds)
    return seconds


class HeartbeatsParams(serializers.Serializer):
    beats = serializers.IntegerField(min_value=1, max_value=5)
    deadline_s = serializers.FloatField(min_value=0, max_value=60, default=20)


@job_type("test.await_heartbeats", params=HeartbeatsParams)
def await_heartbeats(ctx, *, beats, deadline_s):
    """Run until the heartbeat thread has marked this attempt alive `beats` times; return how many it saw.

    The claim writes the first heartbeat_at; every later value is one beat. The deadline
    bounds the wait, so a heartbeat thread that never beats fails the test instead of hanging it.
    """
    claimed = ctx.job.heartbeat_at
    seen = set()
    deadline = time.monotonic() + deadline_s
    while len(seen) < beats and time.monotonic() < deadline:
        beat = Job.objects.values_list("heartbeat_at", flat=True).get(pk=ctx.job_id)
        if beat != claimed:
            seen.add(beat)
        time.sleep(0.05)  # a poll of the row, not a guess at how long the beats take
    return len(seen)


def release_key(job_id) -> str:
    return f"tests:release:{job_id}"


def release(job_id) -> None:
    """Let a test.hold job finish: every attempt of it, now and later."""
    redis.Redis.from_url(settings.REDIS_URL).set(release_key(job_id), 1, ex=600)


class HoldParams(serializers.Serializer):
    cap_s = serializers.FloatField(min_value=0, max_value=120, default=60)


@job_type("test.hold", params=HoldParams)
def hold(ctx, *, cap_s):
    """Run until the test calls release(job_id), so a test decides when it ends, not a clock.

    The cap bounds a test that never releases: the job then fails rather than hanging the run.
    """
    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + cap_s
    while not client.exists(release_key(ctx.job_id)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not released within {cap_s} s")
        time.sleep(0.05)  # a poll of the release key; a key, not a popped item, survives a killed attempt
    return "released"


@job_type("test.slow", params=SleepParams, soft_time_limit=1, time_limit=5)
def slow(ctx, *, seconds):
    """Sleep under a soft time limit of 1 s."""
    time.sleep(seconds)
    return seconds


@job_type("test.fail_first", params=serializers.Serializer)
def fail_first(ctx):
    """Fail the first attempt with an error no type retries; succeed after a manual retry."""
    if ctx.job.attempts == 1:
        raise ValueError("the first attempt always fails")
    return "second time lucky"


LEDGER_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS test_ledger "
    "(job_id uuid NOT NULL, attempt int NOT NULL, written_at timestamptz NOT NULL DEFAULT now())"
)


def ledger_table_ensure(cursor) -> None:
    cursor.execute(LEDGER_TABLE_SQL)


class LedgerParams(serializers.Serializer):
    sleep_s = serializers.FloatField(min_value=0, max_value=10, default=0)


@job_type("test.ledger", params=LedgerParams, transactional=True)
def ledger(ctx, *, sleep_s):
    """Write one ledger row per successful run, in the job's transaction: exactly once."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO test_ledger (job_id, attempt) VALUES (%s, %s)", [ctx.job_id, ctx.job.attempts]
        )
    time.sleep(sleep_s)
    return ctx.job.attempts


# A queue that only the priority test's own worker reads (tests/e2e/test_priority.py).
PRIORITY_PROBE_QUEUE = "priority-probe"


@job_type("test.priority_probe", params=serializers.Serializer, queue=PRIORITY_PROBE_QUEUE)
def priority_probe(ctx):
    """Do nothing: the ledger's started_at tells in which order a worker took the jobs."""


@job_type("test.log_line", params=serializers.Serializer)
def log_line(ctx):
    """Log one line and print one, as a job's own code would (tests/e2e/test_json_logs.py)."""
    logging.getLogger("tests.job").warning("a line from inside the job")
    print("a print from inside the job")
    return "logged"
