"""Everything that changes a job. Views, tasks, the admin and manage.py all call these.

The job row is the source of truth. Every status change is a conditional UPDATE from the
statuses it may come from, so two actors racing (a cancel and a worker finishing, two
deliveries of one message) cannot both win.
"""

import hashlib
import json
import logging
import os
import random
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import redis
from billiard.exceptions import WorkerLostError
from celery import current_app, states
from celery.exceptions import Retry, SoftTimeLimitExceeded, TaskRevokedError
from celery.exceptions import TimeLimitExceeded as CeleryTimeLimitExceeded
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_celery_results.models import TaskResult
from rest_framework.exceptions import ValidationError

from jobs import events, locks, results, rows, tasks
from jobs.cache import cache_redis
from jobs.exceptions import JobCancelled, JobConflict, TimeLimitExceeded, TooManyActiveJobs, UnknownJobType
from jobs.models import (
    CANCELLABLE_STATUSES,
    RETRYABLE_STATUSES,
    TERMINAL_STATUSES,
    Job,
    JobAttempt,
    JobStatus,
    Workflow,
)
from jobs.registry import JobType, job_type_get, unknown_job_type_message
from jobs.signals import job_finished

logger = logging.getLogger(__name__)

BATCH_MAX_JOBS = 1000


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


# --- Submitting ---------------------------------------------------------------------------


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
    invalid = {}
    try:
        validated = dict(serializer.run_validation(params))
    except ValidationError as error:
        invalid = error.detail
    # DRF drops unknown keys silently; a typo in a param name should not pass for a default.
    unknown = {name: ["Unknown parameter."] for name in params if name not in serializer.fields}
    if invalid or unknown:
        raise ValidationError({"params": {**invalid, **unknown}})
    problem = json_storable_problem(validated)
    if problem:
        raise ValidationError({"params": [problem]})
    return validated


def json_storable_problem(value) -> str:
    """Why PostgreSQL's jsonb (and strict JSON) cannot hold `value`, or "" if it can.

    Python's json accepts 1e999 (as infinity) and NUL characters; jsonb and JSON clients don't.
    """
    try:
        text = json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False)
    except ValueError:
        return "Numbers must be finite (no NaN or infinity)."
    except TypeError as error:
        return f"Not JSON: {error}"
    if "\\u0000" in text:
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


def _job_from_spec(*, owner, spec: JobSpec, **fields) -> Job:
    job_type = job_type_get(spec.type)
    is_later = spec.run_at is not None and spec.run_at > timezone.now()
    return Job(
        owner=owner,
        type=spec.type,
        params=spec.params,
        priority=spec.priority,
        queue=job_type.queue,
        run_at=spec.run_at if is_later else None,
        status=JobStatus.SCHEDULED if is_later else JobStatus.QUEUED,
        queued_at=None if is_later else timezone.now(),
        callback_url=spec.callback_url,
        **fields,
    )


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
    job = _job_from_spec(
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
        _publish_on_commit([job])
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
    jobs = [_job_from_spec(owner=owner, spec=spec) for spec in specs]
    with transaction.atomic():
        Job.objects.bulk_create(jobs)
        _publish_on_commit([job for job in jobs if job.status == JobStatus.QUEUED])
    return jobs


def _publish_on_commit(jobs: list[Job]) -> None:
    if not jobs:
        return

    def publish_after_commit():
        try:
            job_publish_many(jobs=jobs)
        except Exception:
            # The jobs are safe in the ledger; the reconciler publishes them once Redis is back.
            logger.exception("could not publish %d job(s); they stay queued in the ledger", len(jobs))
            Job.objects.filter(pk__in=[job.pk for job in jobs]).update(publish_failed=True)

    transaction.on_commit(publish_after_commit)


def _publish_options(job: Job) -> dict:
    job_type = job_type_get(job.type)
    options = {
        "kwargs": {"job_id": str(job.pk)},
        "task_id": str(job.pk),
        "queue": job.queue,
        # The Redis transport serves priority 0 first; our API says 9 is the most urgent.
        "priority": 9 - job.priority,
    }
    if job_type is not None and job_type.soft_time_limit is not None:
        options["soft_time_limit"] = job_type.soft_time_limit
    if job_type is not None and job_type.time_limit is not None:
        options["time_limit"] = job_type.time_limit
    return options


def job_publish(*, job: Job) -> None:
    """Send the job's Celery message. The task id is the job id, so a resend is the same task."""
    tasks.run_job.apply_async(**_publish_options(job))


def job_publish_many(*, jobs: list[Job]) -> None:
    """Send many jobs' messages through one Redis pipeline."""
    if len(jobs) == 1:
        job_publish(job=jobs[0])
        return
    declared = set()
    with current_app.producer_or_acquire() as producer, producer.batch(max_size=BATCH_MAX_JOBS):
        for job in jobs:
            options = _publish_options(job)
            # Per message, Celery would declare the queue again and saferepr the arguments for
            # monitoring: a fifth of a batch's publishing. Each queue is declared once a batch,
            # and the repr, which for one id Celery would render the same, is given.
            if job.queue in declared:
                options["declare"] = []
            declared.add(job.queue)
            options["argsrepr"], options["kwargsrepr"] = "()", repr(options["kwargs"])
            tasks.run_job.apply_async(producer=producer, **options)


def job_dispatch_due(*, limit: int = 500) -> int:
    """Queue and publish scheduled and retrying jobs whose time has come; return how many.

    Each due job moves to `queued` exactly once (SKIP LOCKED keeps two dispatchers apart),
    so a delay longer than the broker's visibility timeout cannot run a job twice, as a
    Celery ETA message could.
    """
    with transaction.atomic():
        due = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(status__in=[JobStatus.SCHEDULED, JobStatus.RETRYING], run_at__lte=timezone.now())
            .order_by("run_at")[:limit]
        )
        if not due:
            return 0
        Job.objects.filter(pk__in=[job.pk for job in due]).update(
            status=JobStatus.QUEUED, queued_at=timezone.now()
        )
        for job in due:
            job.status = JobStatus.QUEUED
        _publish_on_commit(due)
    for job in due:
        events.event_publish(job_id=job.pk, kind="status", data={"status": JobStatus.QUEUED})
    return len(due)


# --- Running ------------------------------------------------------------------------------


def job_claim(*, job_id, worker: str = "") -> Job | None:
    """Move a queued job to running, record the attempt, and return the job; None if it is
    gone or someone else has it.

    The conditional UPDATE is what makes a second delivery of the same message harmless.
    It is one SQL statement (update, attempt insert and read back), because this is the
    worker's hottest path: one round trip instead of five.
    """
    now = timezone.now()
    params = [JobStatus.RUNNING, now, now, job_id, JobStatus.QUEUED, worker, now]
    try:
        job = _claim_once(params)
    except (OperationalError, InterfaceError):
        # The claim is a task's first query. Rather than a health check (SELECT 1) before every
        # task, a connection that broke while idle (PostgreSQL restarted) gets one fresh try.
        connection.close()
        job = _claim_once(params)
    if job is None:
        return None
    events.event_publish(job_id=job.pk, kind="status", data={"status": job.status, "attempts": job.attempts})
    return job


def _claim_once(params: list) -> Job | None:
    return rows.fetch_one(Job, _CLAIM_SQL, params)


_CLAIM_SQL = f"""
    WITH claimed AS (
        UPDATE {Job._meta.db_table}
        SET status = %s, started_at = %s, heartbeat_at = %s, finished_at = NULL, run_at = NULL,
            attempts = attempts + 1, progress_current = NULL, progress_total = NULL, progress_message = ''
        WHERE id = %s AND status = %s
        RETURNING {rows.model_columns(Job)}
    ), attempt AS (
        INSERT INTO {JobAttempt._meta.db_table}
            (job_id, number, worker, started_at, error_type, error_message)
        SELECT id, attempts, %s, %s, '', '' FROM claimed
    )
    SELECT * FROM claimed
"""


class _Heartbeats:
    """One thread per worker process marks the jobs it is running alive every JOB_HEARTBEAT_S.

    A job whose heartbeat stops (its worker was killed) is found by the reconciler. Only the
    current attempt beats: a superseded one must not keep its successor looking alive. One
    long-lived thread, rather than one per job, keeps short jobs cheap; it is started lazily
    in each process, because threads do not survive the fork of a prefork pool.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: dict = {}
        self._pid = None

    TICK_S = 0.5

    @contextmanager
    def beating(self, *, job: Job):
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._jobs = {}
                threading.Thread(target=self._run, name="job-heartbeats", daemon=True).start()
            self._jobs[job.pk] = [job, time.monotonic()]  # the claim was its first heartbeat
        try:
            yield
        finally:
            with self._lock:
                self._jobs.pop(job.pk, None)

    def _run(self):
        while True:
            time.sleep(self.TICK_S)
            now = time.monotonic()
            with self._lock:
                idle = not self._jobs
                due = [entry for entry in self._jobs.values() if now - entry[1] >= settings.JOB_HEARTBEAT_S]
                for entry in due:
                    entry[1] = now
            if idle:
                connection.close()  # hold no database connection between jobs
                continue
            for job, _ in due:
                try:
                    # After a database outage, drop the broken connection so this beat reconnects.
                    connection.close_if_unusable_or_obsolete()
                    _current_attempt(job).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    logger.warning("could not record the heartbeat of job %s", job.pk, exc_info=True)
                    connection.close()


_heartbeats = _Heartbeats()


def job_execute(*, job: Job, task) -> object:
    """Run a claimed job's function and record its outcome.

    On an error the type declares retryable, with attempts left, the job goes to
    `retrying` and Celery's Retry is raised (so Flower shows a retry); the dispatcher
    publishes it again when the backoff is over. Any other error fails the job and is
    re-raised. `task` is the bound Celery task: its backend and request give the
    TaskResult row the same shape Celery would have written.
    """
    from jobs.context import JobContext  # the context calls back into this module

    job_type = job_type_get(job.type)
    try:
        if job_type is None:
            raise UnknownJobType(f"No job type {job.type!r} is registered on this worker.")
        params = _params_for_run(job, job_type)
        with _heartbeats.beating(job=job):
            if job_type.transactional:
                result = _run_in_transaction(job=job, job_type=job_type, params=params, task=task)
            else:
                result = job_type.func(JobContext(job), **params)
                _check_result(result)
                _job_finish(job=job, task=task, status=JobStatus.SUCCEEDED, result=result)
    except _Superseded:
        logger.warning("job %s attempt %d was superseded; its writes were rolled back", job.pk, job.attempts)
        return None
    except JobCancelled:
        logger.info("job %s stopped after being cancelled", job.pk)
        return None
    except (OperationalError, InterfaceError):
        # The database went away: not the job's fault, and nothing can be recorded now. The job
        # stays `running`; once its heartbeat is stale the reconciler runs it again.
        logger.warning("job %s: database unavailable; leaving it to the reconciler", job.pk)
        raise
    except SoftTimeLimitExceeded:
        limit = (job_type and job_type.soft_time_limit) or settings.CELERY_TASK_SOFT_TIME_LIMIT
        exc = TimeLimitExceeded(f"The job ran past its soft time limit of {limit:g} s.")
        _job_finish(job=job, task=task, status=JobStatus.FAILED, exc=exc)
        raise exc from None
    except Exception as exc:
        if _is_retryable(job, job_type, exc):
            retry_at = _job_schedule_retry(job=job, job_type=job_type, exc=exc)
            raise Retry(
                f"attempt {job.attempts} failed; next at {retry_at.isoformat()}", exc=exc, when=retry_at
            ) from exc
        _job_finish(job=job, task=task, status=JobStatus.FAILED, exc=exc)
        raise
    return result


class ResultNotJSON(Exception):
    """A job returned something strict JSON cannot hold (infinity, NaN, a set, NUL characters)."""


def _check_result(result) -> None:
    problem = json_storable_problem(result)
    if problem:
        raise ResultNotJSON(f"The job's result cannot be stored: {problem}")


class _Superseded(Exception):
    """The job left this attempt's `running` state while it ran (cancelled, or run again)."""


def _run_in_transaction(*, job: Job, job_type: JobType, params: dict, task):
    """Run a transactional type: its database writes commit together with its success, or not
    at all. An attempt that was killed, or superseded by a newer one, leaves no trace."""
    from jobs.context import JobContext

    with transaction.atomic():
        result = job_type.func(JobContext(job), **params)
        _check_result(result)
        if not _job_finish(job=job, task=task, status=JobStatus.SUCCEEDED, result=result):
            raise _Superseded
    return result


def _params_for_run(job: Job, job_type: JobType) -> dict:
    if job.workflow_id is None or not job.step:
        return job.params
    previous = Job.objects.filter(workflow_id=job.workflow_id, step=job.step - 1).first()
    from jobs.selectors import job_result_of  # selectors import services' models only

    return job_params_validate(type=job.type, params={**job.params, "previous": job_result_of(previous)})


def _is_retryable(job: Job, job_type: JobType | None, exc: Exception) -> bool:
    if job_type is None or not job_type.retry_on:
        return False
    return isinstance(exc, job_type.retry_on) and job.attempts <= job_type.max_retries


def retry_delay_s(*, attempt: int, backoff_s: float, backoff_max_s: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, base * 2**(attempt-1))]."""
    ceiling = min(backoff_max_s, backoff_s * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)


def _job_schedule_retry(*, job: Job, job_type: JobType, exc: Exception) -> datetime:
    delay = retry_delay_s(
        attempt=job.attempts, backoff_s=job_type.backoff_s, backoff_max_s=job_type.backoff_max_s
    )
    retry_at = timezone.now() + timedelta(seconds=delay)
    error = {"error_type": type(exc).__name__, "error_message": str(exc) or repr(exc)}
    with transaction.atomic():
        moved = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts).update(
            status=JobStatus.RETRYING, run_at=retry_at, **error
        )
        if moved:
            _attempt_finish(job=job, **error)
    if moved:
        events.event_publish(
            job_id=job.pk,
            kind="status",
            data={"status": JobStatus.RETRYING, "run_at": retry_at, "error": _error_dict(**error)},
        )
    return retry_at


def _attempt_finish(*, job: Job, error_type: str = "", error_message: str = "") -> None:
    JobAttempt.objects.filter(job=job, number=job.attempts).update(
        finished_at=timezone.now(), error_type=error_type, error_message=error_message
    )


def _error_dict(*, error_type: str, error_message: str) -> dict | None:
    return {"type": error_type, "message": error_message} if error_type else None


def _job_finish(*, job: Job, task, status: str, result=None, exc: BaseException | None = None) -> bool:
    """Store the outcome in TaskResult and the terminal status on the job, atomically.

    One statement writes the job's status, its attempt and its TaskResult, so nobody sees a
    succeeded job without its result, and the worker pays one round trip. Only the attempt that
    is still `running` may finish the job: a newer attempt, started by the reconciler while
    this one was cut off, owns it now. Returns False when the job had already left `running`.
    """
    error = {"error_type": "", "error_message": ""}
    if exc is not None:
        error = {"error_type": type(exc).__name__, "error_message": str(exc) or repr(exc)}
    request = task.request if task is not None else None
    with results.task_result_captured() as captured:
        if exc is None:
            current_app.backend.store_result(str(job.pk), result, states.SUCCESS, request=request)
        else:
            tb = "".join(traceback.format_exception(exc))
            current_app.backend.store_result(str(job.pk), exc, states.FAILURE, traceback=tb, request=request)
    store_sql, store_params = results.task_result_upsert_sql(captured[0], only_if="finished")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _FINISH_SQL.format(store=store_sql),
            [
                status,
                now,
                error["error_type"],
                error["error_message"],
                job.pk,
                JobStatus.RUNNING,
                job.attempts,
                now,
                error["error_type"],
                error["error_message"],
                job.attempts,
                *store_params,
            ],
        )
        finished = cursor.fetchone()[0]
    if not finished:
        logger.warning("job %s left the running state before it finished; outcome dropped", job.pk)
        return False
    _on_finished_commit(
        job_id=job.pk, workflow_id=job.workflow_id, callback_url=job.callback_url, status=status
    )
    data = events.terminal_event_data(status=status, finished_at=now, result=result, **error)
    events.event_publish(job_id=job.pk, kind="status", data=data)
    return True


_FINISH_SQL = f"""
    WITH finished AS (
        UPDATE {Job._meta.db_table} SET status = %s, finished_at = %s, error_type = %s, error_message = %s
        WHERE id = %s AND status = %s AND attempts = %s
        RETURNING id
    ), attempt AS (
        UPDATE {JobAttempt._meta.db_table} SET finished_at = %s, error_type = %s, error_message = %s
        WHERE job_id IN (SELECT id FROM finished) AND number = %s
    ), stored AS ({{store}})
    SELECT count(*) FROM finished
"""


def _on_finished_commit(*, job_id, workflow_id, callback_url: str, status: str) -> None:
    """After the terminal status commits: move the job's workflow on, and tell listeners."""

    def after_commit():
        if workflow_id is not None:
            workflow_advance(workflow_id=workflow_id)
        job_finished.send(sender=Job, job_id=job_id, status=status, callback_url=callback_url)

    transaction.on_commit(after_commit)


def job_fail_from_outside(*, job_id, exc: BaseException) -> None:
    """Record what happened to a job whose process could not: killed at its hard time limit
    (failed), or lost with its worker process (run again as a new attempt, up to a limit).
    Any other failure was recorded by the job itself, or (a database outage) is left to the
    reconciler."""
    if not isinstance(exc, WorkerLostError | CeleryTimeLimitExceeded):
        return
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return
    if isinstance(exc, WorkerLostError):
        job_requeue_lost(job=job, reason=str(exc) or "The worker process running the job was lost.")
        return
    job_type = job_type_get(job.type)
    limit = (job_type and job_type.time_limit) or settings.CELERY_TASK_TIME_LIMIT
    stopped = TimeLimitExceeded(f"The job was stopped at its hard time limit of {limit:g} s.")
    _job_finish(job=job, task=None, status=JobStatus.FAILED, exc=stopped)


def _current_attempt(job: Job):
    """The job's row, if `job` is still its current running attempt."""
    return Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts)


def job_report_progress(*, job: Job, current: int, total: int, message: str = "") -> None:
    """Record a running attempt's progress; a superseded or cancelled attempt's is ignored."""
    if total <= 0 or current < 0:
        raise ValueError(f"progress needs 0 <= current and 0 < total, got {current}/{total}")
    current = min(current, total)
    message = message[:500]
    job_id = job.pk
    job_type = job_type_get(job.type)
    if job_type is not None and job_type.transactional:
        # Inside the job's open transaction a row write would lock the job until it commits,
        # holding up cancels and heartbeats: such jobs report progress to listeners only.
        updated = True
    else:
        updated = _current_attempt(job).update(
            progress_current=current, progress_total=total, progress_message=message
        )
    if updated:
        progress = {"current": current, "total": total, "percent": round(100.0 * current / total, 1)}
        events.event_publish(
            job_id=job_id, kind="progress", data={"progress": {**progress, "message": message}}
        )


def job_should_stop(*, job: Job) -> bool:
    """True once this attempt no longer owns the job: cancelled, or superseded by a newer one."""
    return not _current_attempt(job).exists()


# --- Operating: cancel and retry ------------------------------------------------------------


class Outcome(NamedTuple):
    """What a bulk operation did to one job, and the job's status afterwards."""

    result: str  # one of the constants below
    status: str | None


CANCELLED, ALREADY_CANCELLED, RETRIED, CONFLICT, NOT_FOUND = (
    "cancelled",
    "already_cancelled",
    "retried",
    "conflict",
    "not_found",
)
CANCEL_CONFLICT = "The job has already {status}; only an unfinished job can be cancelled."
RETRY_CONFLICT = "The job is {status}; only a failed or cancelled job can be retried."


def jobs_cancel(*, job_ids: list, owner=None, reason: str = "Cancelled by request.") -> dict:
    """Cancel each job that has not finished; returns an Outcome per id.

    A job that has not started never will (the claim only takes queued jobs). A running job
    is stopped: cooperatively through ctx.cancelled if its type asks for that, otherwise by
    terminating its worker process. A cancelled job is left as it is; a succeeded or failed
    one is a CONFLICT, and the others are cancelled all the same. One transaction for all:
    the rows, the attempts and the TaskResults; events and terminations go out after commit.
    With an `owner`, anyone else's job is NOT_FOUND.
    """
    now = timezone.now()
    error = {"error_type": "JobCancelled", "error_message": reason}
    with transaction.atomic():
        found = {row["id"]: row for row in _cancel_rows(job_ids, owner, now=now, **error)}
        cancel = [row for row in found.values() if row["status"] in CANCELLABLE_STATUSES]
        cancelled_ids = [row["id"] for row in cancel]
        if cancel:
            # Celery's backend builds the REVOKED row once; every cancelled job gets the same.
            with results.task_result_captured() as captured:
                revoked = TaskRevokedError(reason)
                current_app.backend.store_result(str(cancelled_ids[0]), revoked, states.REVOKED)
            results.task_results_store_alike(captured[0], task_ids=[str(pk) for pk in cancelled_ids])
        running = [row for row in cancel if row["status"] == JobStatus.RUNNING]
        terminate = [row["id"] for row in running if not _cooperative(row["type"])]
        data = events.terminal_event_data(status=JobStatus.CANCELLED, finished_at=now, **error)
        # Registered first, so listeners and running jobs hear of it before the signal handlers run.
        transaction.on_commit(lambda: _after_cancel(cancelled_ids, terminate, data))
        for row in cancel:
            _on_finished_commit(
                job_id=row["id"],
                workflow_id=row["workflow_id"],
                callback_url=row["callback_url"],
                status=JobStatus.CANCELLED,
            )
    outcomes = {}
    for job_id in job_ids:
        row = found.get(job_id)
        if row is None:
            outcomes[job_id] = Outcome(NOT_FOUND, None)
        elif row["status"] == JobStatus.CANCELLED:
            outcomes[job_id] = Outcome(ALREADY_CANCELLED, JobStatus.CANCELLED)
        elif row["status"] in CANCELLABLE_STATUSES:
            outcomes[job_id] = Outcome(CANCELLED, JobStatus.CANCELLED)
        else:
            outcomes[job_id] = Outcome(CONFLICT, row["status"])
    return outcomes


def _cancel_rows(job_ids: list, owner, *, now, error_type: str, error_message: str) -> list[dict]:
    """Lock the jobs, cancel those that can be, and finish the attempts of the running ones, in
    one statement; returns each job found as it was before (its status, type, workflow and
    callback URL)."""
    params = {
        "ids": [str(job_id) for job_id in job_ids],
        "owner": getattr(owner, "pk", None),
        "cancelled": JobStatus.CANCELLED,
        "cancellable": list(CANCELLABLE_STATUSES),
        "running": JobStatus.RUNNING,
        "now": now,
        "error_type": error_type,
        "error_message": error_message,
    }
    with connection.cursor() as cursor:
        owner_clause = "AND owner_id = %(owner)s" if owner is not None else ""
        cursor.execute(_CANCEL_SQL.format(owner=owner_clause), params)
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


# The rows are locked in id order, so that two bulk operations that overlap take their locks in
# the same order and cannot deadlock; MATERIALIZED, so the lock is taken once, before the updates.
_CANCEL_SQL = f"""
    WITH locked AS MATERIALIZED (
        SELECT id, status, attempts, type, workflow_id, callback_url FROM {Job._meta.db_table}
        WHERE id = ANY(%(ids)s::uuid[]) {{owner}}
        ORDER BY id FOR UPDATE
    ), cancelled AS (
        UPDATE {Job._meta.db_table} AS job
        SET status = %(cancelled)s, finished_at = %(now)s, run_at = NULL,
            error_type = %(error_type)s, error_message = %(error_message)s
        FROM locked WHERE job.id = locked.id AND locked.status = ANY(%(cancellable)s)
    ), attempt AS (
        UPDATE {JobAttempt._meta.db_table} AS attempt
        SET finished_at = %(now)s, error_type = %(error_type)s, error_message = %(error_message)s
        FROM locked
        WHERE attempt.job_id = locked.id AND attempt.number = locked.attempts AND locked.status = %(running)s
    )
    SELECT id, status, type, workflow_id, callback_url FROM locked
"""


def _locked(job_ids: list, owner) -> dict:
    """The jobs by id, locked for update in id order (as in _CANCEL_SQL)."""
    jobs = Job.objects.select_for_update().filter(pk__in=job_ids)
    if owner is not None:
        jobs = jobs.filter(owner=owner)
    return {job.pk: job for job in jobs.order_by("pk")}


def _cooperative(type_name: str) -> bool:
    job_type = job_type_get(type_name)
    return bool(job_type and job_type.cooperative_cancel)


def _after_cancel(job_ids: list, terminate: list, data: dict) -> None:
    for job_id in terminate:
        # Our own control command: Celery's revoke would also remember the id as revoked
        # and silently drop the message of a later manual retry, which reuses the id.
        current_app.control.broadcast("job_terminate", arguments={"job_id": str(job_id)})
    events.event_publish_many(job_ids=job_ids, kind="status", data=data)


def job_cancel(*, job: Job, reason: str = "Cancelled by request.") -> Job:
    """Cancel one job (see jobs_cancel); cancelling a cancelled job again changes nothing.
    Raises JobConflict for a succeeded or failed job."""
    outcome = jobs_cancel(job_ids=[job.pk], reason=reason)[job.pk]
    if outcome.result in {CONFLICT, NOT_FOUND}:
        raise JobConflict(CANCEL_CONFLICT.format(status=outcome.status))
    return Job.objects.get(pk=job.pk)


def jobs_retry(*, job_ids: list, owner=None) -> dict:
    """Queue each failed or cancelled job again, as a new attempt with the same id and params;
    returns an Outcome per id (any other status is a CONFLICT, and changes nothing). With an
    `owner`, anyone else's job is NOT_FOUND."""
    now = timezone.now()
    with transaction.atomic():
        found = _locked(job_ids, owner)
        retry = [job for job in found.values() if job.status in RETRYABLE_STATUSES]
        queued = {"status": JobStatus.QUEUED, "queued_at": now, "finished_at": None, "run_at": None}
        Job.objects.filter(pk__in=[job.pk for job in retry]).update(**queued, error_type="", error_message="")
        for job in retry:
            for name, value in {**queued, "error_type": "", "error_message": ""}.items():
                setattr(job, name, value)
        _publish_on_commit(retry)
        retried_ids = [job.pk for job in retry]
        transaction.on_commit(
            lambda: events.event_publish_many(
                job_ids=retried_ids, kind="status", data={"status": JobStatus.QUEUED}
            )
        )
    retried = set(retried_ids)
    outcomes = {}
    for job_id in job_ids:
        job = found.get(job_id)
        if job is None:
            outcomes[job_id] = Outcome(NOT_FOUND, None)
        elif job.pk in retried:
            outcomes[job_id] = Outcome(RETRIED, JobStatus.QUEUED)
        else:
            outcomes[job_id] = Outcome(CONFLICT, job.status)
    return outcomes


def job_retry(*, job: Job) -> Job:
    """Queue one failed or cancelled job again (see jobs_retry); raises JobConflict otherwise."""
    outcome = jobs_retry(job_ids=[job.pk])[job.pk]
    if outcome.result != RETRIED:
        raise JobConflict(RETRY_CONFLICT.format(status=outcome.status))
    return Job.objects.get(pk=job.pk)


# --- Reconciling: nothing accepted is ever lost -----------------------------------------------


def job_requeue_lost(*, job: Job, reason: str) -> bool:
    """Run a job whose worker was lost again, as a new attempt; fail it once attempts run out.

    Conditional on the job still being `running`, so a late report of the same loss, or the
    reconciler finding it too, changes nothing.
    """
    error = {"error_type": "WorkerLost", "error_message": reason}
    if job.attempts >= settings.JOB_MAX_ATTEMPTS_ON_WORKER_LOST:
        exc = WorkerLostError(f"{reason} Gave up after {job.attempts} attempts.")
        return _job_finish(job=job, task=None, status=JobStatus.FAILED, exc=exc)
    with transaction.atomic():
        requeued = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts).update(
            status=JobStatus.QUEUED, queued_at=timezone.now(), heartbeat_at=None, **error
        )
        if requeued:
            _attempt_finish(job=job, **error)
            _publish_on_commit([job])
    if requeued:
        logger.warning("job %s: %s Queued again (attempt %d next).", job.pk, reason, job.attempts + 1)
        events.event_publish(job_id=job.pk, kind="status", data={"status": JobStatus.QUEUED})
    return bool(requeued)


def jobs_reconcile(*, limit: int = 1000) -> dict:
    """Find accepted jobs that would otherwise never finish, and put them back on track.

    - running, but no heartbeat for JOB_HEARTBEAT_TIMEOUT_S: the worker died; run it again.
    - queued, but publishing failed, or still not started JOB_RECONCILE_QUEUED_AFTER_S after
      it was queued (a lost message, a Redis restart, a crash between commit and publish):
      publish it again. A duplicate message is harmless: the claim lets one run.
    Runs under a lock, so two reconcilers never overlap. Returns what it did.
    """
    with locks.redis_lock("jobs:reconcile", ttl_s=settings.JOB_RECONCILE_INTERVAL_S) as held:
        if not held:
            return {"skipped": True}
        now = timezone.now()
        cutoff = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_S)
        silent = Job.objects.filter(status=JobStatus.RUNNING).filter(
            Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        )[:limit]
        requeued = sum(
            job_requeue_lost(job=job, reason="The worker stopped sending heartbeats.") for job in silent
        )
        stuck = list(
            Job.objects.filter(status=JobStatus.QUEUED)
            .filter(
                Q(publish_failed=True)
                | Q(queued_at__lt=now - timedelta(seconds=settings.JOB_RECONCILE_QUEUED_AFTER_S))
            )
            .order_by("queued_at")[:limit]
        )
        if stuck:
            job_publish_many(jobs=stuck)
            Job.objects.filter(pk__in=[job.pk for job in stuck]).update(publish_failed=False, queued_at=now)
        advanced = _workflows_advance_stalled(limit=limit)
        return {"requeued": requeued, "republished": len(stuck), "workflows_advanced": advanced}


_IN_FLIGHT = [JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING]


def _workflows_advance_stalled(*, limit: int) -> int:
    """Advance running workflows with a pending step and nothing in flight: the worker that
    finished the step before died before it could advance the workflow."""
    stalled = (
        Workflow.objects.filter(status=JobStatus.RUNNING, jobs__status=JobStatus.PENDING)
        .exclude(jobs__status__in=_IN_FLIGHT)
        .values_list("pk", flat=True)
        .distinct()[:limit]
    )
    stalled = list(stalled)
    for workflow_id in stalled:
        workflow_advance(workflow_id=workflow_id)
    return len(stalled)


def job_rerun(*, job: Job, owner=None) -> Job:
    """Submit a new job with the same type, params, priority and callback as `job`.

    The params are validated again: the type may have changed, or gone, since.
    """
    spec = job_spec_build(
        type=job.type, params=job.params, priority=job.priority, callback_url=job.callback_url
    )
    rerun, _ = job_create(owner=owner or job.owner, spec=spec)
    return rerun


def jobs_prune(*, older_than: datetime, batch_size: int = 1000) -> Iterator[int]:
    """Delete finished jobs created before `older_than`, with their TaskResult rows, in batches.

    Yields the number deleted per batch, so a caller can show progress. Each batch is its
    own transaction, so a long prune never holds locks for long. Unfinished jobs are kept.
    """
    finished = Job.objects.filter(created_at__lt=older_than, status__in=TERMINAL_STATUSES)
    while True:
        with transaction.atomic():
            ids = list(finished.order_by("created_at").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return
            TaskResult.objects.filter(task_id__in=[str(pk) for pk in ids]).delete()
            Job.objects.filter(pk__in=ids).delete()  # attempts and webhook deliveries cascade
        yield len(ids)


# --- Workflows ------------------------------------------------------------------------------


def workflow_create(*, owner, steps: list[dict]) -> Workflow:
    """Create a workflow whose steps run one after another; step n+1 gets step n's result.

    `steps` are {"type", "params"} dicts. Every step is validated before anything is
    stored; errors come back per step.
    """
    errors, specs = [], []
    for index, step in enumerate(steps):
        try:
            params = job_params_validate(
                type=step["type"], params=step.get("params", {}), previous_pending=index > 0
            )
            specs.append(JobSpec(type=step["type"], params=params))
            errors.append({})
        except ValidationError as error:
            errors.append(error.detail)
    if any(errors):
        raise ValidationError({"steps": errors})
    with transaction.atomic():
        workflow = Workflow.objects.create(owner=owner, status=JobStatus.RUNNING)
        jobs = [
            _job_from_spec(owner=owner, spec=spec, workflow=workflow, step=index)
            for index, spec in enumerate(specs)
        ]
        for job in jobs[1:]:
            job.status = JobStatus.PENDING
        Job.objects.bulk_create(jobs)
        _publish_on_commit(jobs[:1])
    return workflow


def workflow_advance(*, workflow_id) -> None:
    """After a step finished: queue the next, or stop the rest after a failure, or finish."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().filter(pk=workflow_id).first()
        if workflow is None or workflow.status in TERMINAL_STATUSES:
            return
        steps = list(workflow.jobs.order_by("step"))
        stopped = next((job for job in steps if job.status in {JobStatus.FAILED, JobStatus.CANCELLED}), None)
        if stopped is not None:
            reason = f"Step {stopped.step} ({stopped.type}) {stopped.status}; the steps after it did not run."
            for job in steps:
                if job.status == JobStatus.PENDING:
                    job_cancel(job=job, reason=reason)
            _workflow_finish(workflow, stopped.status)
            return
        waiting = next((job for job in steps if job.status == JobStatus.PENDING), None)
        if waiting is None:
            if all(job.status == JobStatus.SUCCEEDED for job in steps):
                _workflow_finish(workflow, JobStatus.SUCCEEDED)
            return
        previous = steps[waiting.step - 1]
        if previous.status == JobStatus.SUCCEEDED:
            Job.objects.filter(pk=waiting.pk, status=JobStatus.PENDING).update(
                status=JobStatus.QUEUED, queued_at=timezone.now()
            )
            waiting.status = JobStatus.QUEUED
            _publish_on_commit([waiting])


def _workflow_finish(workflow: Workflow, status: str) -> None:
    workflow.status = status
    workflow.finished_at = timezone.now()
    workflow.save(update_fields=["status", "finished_at"])


def workflow_cancel(*, workflow: Workflow) -> Workflow:
    """Cancel every unfinished step; the workflow ends cancelled."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
        if workflow.status in TERMINAL_STATUSES and workflow.status != JobStatus.CANCELLED:
            raise JobConflict(f"The workflow has already {workflow.status}.")
        for job in workflow.jobs.exclude(status__in=TERMINAL_STATUSES).order_by("step"):
            job_cancel(job=job, reason="The workflow was cancelled.")
        _workflow_finish(workflow, JobStatus.CANCELLED)
    return workflow
