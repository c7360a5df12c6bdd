"""Submitting: validate a request into a JobSpec, write the job, publish it on commit."""

import hashlib
import json
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import redis
from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from common.api.parsers import JSON_MAX_DEPTH, json_depth
from common.redis_clients import cache_redis
from jobs.exceptions import JobConflict, TooManyActiveJobs
from jobs.models import TERMINAL_STATUSES, Job, JobKind, JobStatus
from jobs.registry import job_type_get, unknown_job_type_message
from jobs.services.publish import publish_on_commit


@dataclass(frozen=True)
class JobSpec:
    """A validated request for one job."""

    type: str
    params: dict
    priority: int = 5
    run_at: datetime | None = None
    callback_url: str = ""
    # A hash of the request as it was sent (before defaults and `delay_s` were resolved), so
    # an Idempotency-Key replay of the same request matches even when "now" has moved on.
    fingerprint: str = ""
    kind: str = JobKind.TYPE
    # None: the queue the type routes to (routed_queue). A Django task names its own.
    queue: str | None = None


def job_params_validate(
    *, type: str, params, previous_pending: bool = False, validators: dict | None = None
) -> dict:
    """Return the type's validated params, or raise ValidationError keyed by `type` or `params`.

    previous_pending: the job is a later workflow step, so params it can take from the
    previous step's result may be missing now.
    validators: a dict to keep each type's params serializer in, across the items of one
    batch. Building a DRF serializer copies all its fields; one instance validates any number
    of items (`run_validation`, as DRF's own ListSerializer does with its child).
    """
    job_type = job_type_get(type)
    if job_type is None:
        raise ValidationError({"type": [unknown_job_type_message(type)]})
    validators = {} if validators is None else validators
    key = (type, previous_pending)
    if key not in validators:
        validators[key] = job_type.params(context={"previous_pending": previous_pending})
    serializer = validators[key]
    invalid: dict = {}
    try:
        validated = dict(serializer.run_validation(params))
    except ValidationError as error:
        invalid = cast(dict, error.detail)  # a serializer's errors are by field (as_serializer_error)
    # DRF drops unknown keys silently; a typo in a param name should not pass for a default.
    unknown = {name: ["Unknown parameter."] for name in params if name not in serializer.fields}
    if invalid or unknown:
        raise ValidationError({"params": {**invalid, **unknown}})
    problem = json_storable_problem(validated)
    if problem:
        raise ValidationError({"params": [problem]})
    return validated


# A \u0000 escape in JSON text, not a backslash written before "u0000" (escaped as \\u0000).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_storable_problem(value, *, encoder: type[json.JSONEncoder] | None = DjangoJSONEncoder) -> str:
    """Why PostgreSQL's jsonb (and strict JSON) cannot hold `value`, or "" if it can.

    Python's json accepts 1e999 (as infinity) and NUL characters; jsonb and JSON clients don't.
    `encoder`: DjangoJSONEncoder (dates and decimals as text, as a JSONField stores them), or
    None for plain JSON only.
    """
    if json_depth(value) > JSON_MAX_DEPTH:
        return f"It nests more than {JSON_MAX_DEPTH} levels of arrays and objects."
    try:
        text = json.dumps(value, cls=encoder, allow_nan=False)
    except ValueError:
        return "Numbers must be finite (no NaN or infinity)."
    except TypeError as error:
        return f"Not JSON: {error}"
    if _NUL_ESCAPE.search(text):
        return "Text must not contain NUL characters."
    return ""


def job_spec_build(
    *,
    type: str,
    params: dict,
    priority: int = 5,
    run_at=None,
    delay_s=None,
    callback_url: str = "",
    validators: dict | None = None,
) -> JobSpec:
    """Validate one submission into a JobSpec; `delay_s` is turned into `run_at`.
    `validators`: see job_params_validate (a batch passes one dict for all its items)."""
    as_sent = {
        "type": type,
        "params": params,
        "priority": priority,
        "run_at": run_at,
        "delay_s": delay_s,
        "callback_url": callback_url,
    }
    fingerprint = hashlib.sha256(
        json.dumps(as_sent, cls=DjangoJSONEncoder, sort_keys=True).encode()
    ).hexdigest()
    validated = job_params_validate(type=type, params=params, validators=validators)
    if delay_s is not None:
        run_at = timezone.now() + timedelta(seconds=delay_s)
    return JobSpec(
        type=type,
        params=validated,
        priority=priority,
        run_at=run_at,
        callback_url=callback_url,
        fingerprint=fingerprint,
    )


# Adds to the user's estimate if it exists (one round trip); nil means "count it".
_ESTIMATE_ADD = """
if redis.call('exists', KEYS[1]) == 1 then return redis.call('incrby', KEYS[1], ARGV[1]) end
return false
"""


# How long a counted estimate is trusted before the ledger is counted again.
ACTIVE_ESTIMATE_TTL_S = 1


def _check_active_cap(*, owner, adding: int) -> None:
    """Refuse work beyond the per-user cap on unfinished jobs (a soft cap under concurrency).

    Counting a user's whole backlog on every submit would cost more the more they have queued.
    Redis keeps an estimate instead: the ledger's count, plus every submission since, for up to
    ACTIVE_ESTIMATE_TTL_S. It never counts finishes, so it is never below the truth: while it
    is under the cap the submit is accepted without a query, and a refusal is always checked
    against an exact (bounded) count first. Without Redis, the ledger is counted.
    """
    if owner.get_username() == SYSTEM_USERNAME:
        return  # code's own submissions (beat, .delay(), Django tasks) are nobody's backlog
    cap = settings.JOB_MAX_ACTIVE_PER_USER
    key = f"jobs:active:{owner.pk}"
    try:
        estimate = cache_redis().eval(_ESTIMATE_ADD, 1, key, adding)
    except redis.RedisError:
        estimate = None
    if estimate is not None and estimate <= cap:
        return
    active = Job.objects.filter(owner=owner).exclude(status__in=TERMINAL_STATUSES)[: cap + 1].count()
    with suppress(redis.RedisError):
        cache_redis().set(key, active + adding, ex=ACTIVE_ESTIMATE_TTL_S)
    if active + adding > cap:
        raise TooManyActiveJobs(
            f"You have {active} unfinished jobs; the limit is {cap}. Submit more once some have finished."
        )


def job_from_spec(*, owner, spec: JobSpec, **fields) -> Job:
    is_later = spec.run_at is not None and spec.run_at > timezone.now()
    return Job(
        owner=owner,
        kind=spec.kind,
        type=spec.type,
        params=spec.params,
        priority=spec.priority,
        queue=spec.queue or routed_queue(job_type_get(spec.type)),
        run_at=spec.run_at if is_later else None,
        status=JobStatus.SCHEDULED if is_later else JobStatus.QUEUED,
        queued_at=None if is_later else timezone.now(),
        callback_url=spec.callback_url,
        **fields,
    )


def routed_queue(job_type) -> str:
    """The queue the type's task goes to: CELERY_TASK_ROUTES first, as Celery routes any task,
    then the queue the type declares. The row keeps it, and every publish of the job uses it."""
    route = current_app.amqp.router.lookup_route(job_type.name, (), {}, {}) or {}
    queue = route.get("queue")
    return getattr(queue, "name", queue) or job_type.queue


def job_create(*, owner, spec: JobSpec, idempotency_key: str = "") -> tuple[Job, bool]:
    """Record a job and publish it once the transaction commits; return (job, created).

    With an idempotency key, a repeat of the same request returns the original job
    (created=False); the same key with a different request raises JobConflict. A
    scheduled job is published later by the dispatcher. If publishing fails (Redis down),
    the job stays `queued` in the ledger rather than the request failing after the job
    was already committed.
    """
    fingerprint = spec.fingerprint if idempotency_key else ""
    if idempotency_key:
        # A replay is answered before the cap: it asks for no new work.
        original = Job.objects.filter(owner=owner, idempotency_key=idempotency_key).first()
        if original is not None:
            return _idempotent_replay(original, fingerprint), False
    _check_active_cap(owner=owner, adding=1)
    job = job_from_spec(
        owner=owner, spec=spec, idempotency_key=idempotency_key, request_fingerprint=fingerprint
    )
    try:
        _insert(job)
    except IntegrityError:
        if not idempotency_key:
            raise
        # Another request with this key won the race.
        original = Job.objects.get(owner=owner, idempotency_key=idempotency_key)
        return _idempotent_replay(original, fingerprint), False
    if job.status == JobStatus.QUEUED:
        publish_on_commit([job])
    return job, True


def _insert(job: Job) -> None:
    """One INSERT is atomic by itself: in autocommit it needs no BEGIN and COMMIT round trips.
    With an idempotency key, inside a caller's transaction, it gets a savepoint, so a duplicate
    key leaves that transaction usable."""
    if job.idempotency_key and connection.in_atomic_block:
        with transaction.atomic():
            job.save(force_insert=True)
    else:
        job.save(force_insert=True)


def _idempotent_replay(original: Job, fingerprint: str) -> Job:
    if original.request_fingerprint != fingerprint:
        raise JobConflict("This Idempotency-Key was already used with a different request.")
    return original


def job_create_many(*, owner, specs: list[JobSpec]) -> list[Job]:
    """Record many jobs in one transaction and publish them in one Redis round trip."""
    _check_active_cap(owner=owner, adding=len(specs))
    jobs = [job_from_spec(owner=owner, spec=spec) for spec in specs]
    with transaction.atomic():
        Job.objects.bulk_create(jobs)
        publish_on_commit([job for job in jobs if job.status == JobStatus.QUEUED])
    return jobs


def job_rerun(*, job: Job, owner=None) -> Job:
    """Submit a new job with the same type, params, priority and callback as `job`.

    A job type's params are validated again: the type may have changed, or gone, since. A
    Django task's job is copied as it is, to the same queue (its worker imports the task).
    """
    if job.kind == JobKind.TASK:
        spec = JobSpec(
            type=job.type, params=job.params, priority=job.priority, kind=job.kind, queue=job.queue
        )
    else:
        spec = job_spec_build(
            type=job.type, params=job.params, priority=job.priority, callback_url=job.callback_url
        )
    rerun, _ = job_create(owner=owner or job.owner, spec=spec)
    return rerun


# Owns the jobs nobody submitted by hand: beat's reports, Celery's calling API.
SYSTEM_USERNAME = "system"


def system_user():
    """The user that owns jobs submitted by code (beat, `.delay()`): staff, so its reports cover
    everyone's jobs, but inactive and without a usable password, so nobody can log in as it."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        **{User.USERNAME_FIELD: SYSTEM_USERNAME}, defaults={"is_active": False, "is_staff": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
