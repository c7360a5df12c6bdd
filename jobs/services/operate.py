"""Operating: cancel and retry (one job or a thousand), and pruning."""

import json
from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from celery import current_app, states
from celery.exceptions import TaskRevokedError
from django.db import connection, transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from jobs import events, results
from jobs.exceptions import JobConflict
from jobs.models import (
    CANCELLABLE_STATUSES,
    RETRYABLE_STATUSES,
    TERMINAL_STATUSES,
    Job,
    JobAttempt,
    JobStatus,
)
from jobs.registry import job_type_get
from jobs.services.finish import on_finished_commit
from jobs.services.publish import (
    args_repr,
    params_repr,
    publish_on_commit,
    task_message_of,
    task_request_of,
)


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
    one is a CONFLICT, and the others are cancelled all the same. Each chunk of BULK_CHUNK jobs
    is one transaction (the rows, the attempts and the TaskResults); its events and
    terminations go out after its commit. With an `owner`, anyone else's job is NOT_FOUND.
    """
    return _by_chunk(_cancel_chunk, job_ids, owner=owner, reason=reason)


# A bulk operation commits BULK_CHUNK jobs at a time. Each job's change stays atomic, and a
# repeated call is safe (a cancelled job is ALREADY_CANCELLED, a queued one a CONFLICT for a
# retry), but listeners hear of the first chunk while the next is written: one transaction of
# 1,000 kept every stream waiting for its commit (the 1,000-stream lag p99 207-237 ms, against
# 130-144 ms in chunks of 250; docs/benchmarks.md).
BULK_CHUNK = 250


def _by_chunk(operation, job_ids: list, **options) -> dict:
    """Apply `operation` to each chunk of the ids; an id given twice gets one outcome."""
    job_ids, outcomes = list(dict.fromkeys(job_ids)), {}
    for start in range(0, len(job_ids), BULK_CHUNK):
        outcomes.update(operation(job_ids=job_ids[start : start + BULK_CHUNK], **options))
    return outcomes


def _cancel_chunk(*, job_ids: list, owner, reason: str) -> dict:
    now = timezone.now()
    error = {"error_type": "JobCancelled", "error_message": reason}
    with transaction.atomic():
        found = {row["id"]: row for row in _cancel_rows(job_ids, owner, now=now, **error)}
        cancel = [row for row in found.values() if row["status"] in CANCELLABLE_STATUSES]
        cancelled_ids = [row["id"] for row in cancel]
        if cancel:
            _store_revoked(cancel, reason)
        running = [row for row in cancel if row["status"] == JobStatus.RUNNING]
        terminate = [row["id"] for row in running if not _cooperative(row["type"])]
        data = events.terminal_event_data(status=JobStatus.CANCELLED, finished_at=now, **error)
        # Registered first, so listeners and running jobs hear of it before the signal handlers run.
        transaction.on_commit(lambda: _after_cancel(cancelled_ids, terminate, data))
        for row in cancel:
            on_finished_commit(
                job_id=row["id"],
                kind=row["kind"],
                type_name=row["type"],
                workflow_id=row["workflow_id"],
                callback_url=row["callback_url"],
                status=JobStatus.CANCELLED,
            )
    outcomes = {}
    for job_id in job_ids:
        before = found.get(job_id)
        if before is None:
            outcomes[job_id] = Outcome(NOT_FOUND, None)
        elif before["status"] == JobStatus.CANCELLED:
            outcomes[job_id] = Outcome(ALREADY_CANCELLED, JobStatus.CANCELLED)
        elif before["status"] in CANCELLABLE_STATUSES:
            outcomes[job_id] = Outcome(CANCELLED, JobStatus.CANCELLED)
        else:
            outcomes[job_id] = Outcome(CONFLICT, before["status"])
    return outcomes


def _store_revoked(rows: list[dict], reason: str) -> None:
    """The REVOKED TaskResult of each cancelled job, named by its message's task, args and kwargs,
    and with the worker and start of its attempt if it was running. Celery's backend builds the
    row once, as it would store it; what differs per job goes in as arrays."""
    first, running = rows[0], JobStatus.RUNNING
    messages = [
        task_message_of(kind=row["kind"], type_name=row["type"], params=row["params"]) for row in rows
    ]
    with results.task_result_captured() as captured:
        request = task_request_of(
            job_id=first["id"], kind=first["kind"], type_name=first["type"], params=first["params"]
        )
        revoked = TaskRevokedError(reason)
        current_app.backend.store_result(str(first["id"]), revoked, states.REVOKED, request=request)
    encode = current_app.backend.encode_content
    results.task_results_store_alike(
        captured[0],
        per_task={
            "task_id": [str(row["id"]) for row in rows],
            "task_name": [name for name, _, _ in messages],
            "task_args": [encode(args_repr(args))[2] for _, args, _ in messages],
            "task_kwargs": [encode(params_repr(kwargs))[2] for _, _, kwargs in messages],
            "worker": [row["worker"] for row in rows],
            "date_started": [row["started_at"] if row["status"] == running else None for row in rows],
        },
    )


def _cancel_rows(job_ids: list, owner, *, now, error_type: str, error_message: str) -> list[dict]:
    """Lock the jobs, cancel those that can be, and finish the attempts of the running ones, in
    one statement; returns each job found as it was before (its status, kind, type, params, workflow,
    callback URL and start) with the worker of its running attempt."""
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
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["params"] = json.loads(row["params"])  # Django reads jsonb as text, and decodes it itself
    return rows


# The rows are locked in id order, so that two bulk operations that overlap take their locks in
# the same order and cannot deadlock; MATERIALIZED, so the lock is taken once, before the updates.
_CANCEL_SQL = f"""
    WITH locked AS MATERIALIZED (
        SELECT id, status, attempts, kind, type, params, workflow_id, callback_url, started_at
        FROM {Job._meta.db_table}
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
        RETURNING attempt.job_id, attempt.worker
    )
    SELECT locked.id, status, kind, type, params, workflow_id, callback_url, started_at,
        NULLIF(attempt.worker, '') AS worker
    FROM locked LEFT JOIN attempt ON attempt.job_id = locked.id
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
    `owner`, anyone else's job is NOT_FOUND. One transaction per BULK_CHUNK jobs, as jobs_cancel."""
    return _by_chunk(_retry_chunk, job_ids, owner=owner)


def _retry_chunk(*, job_ids: list, owner) -> dict:
    now = timezone.now()
    with transaction.atomic():
        found = _locked(job_ids, owner)
        retry = [job for job in found.values() if job.status in RETRYABLE_STATUSES]
        queued = {"status": JobStatus.QUEUED, "queued_at": now, "finished_at": None, "run_at": None}
        Job.objects.filter(pk__in=[job.pk for job in retry]).update(**queued, error_type="", error_message="")
        for job in retry:
            for name, value in {**queued, "error_type": "", "error_message": ""}.items():
                setattr(job, name, value)
        publish_on_commit(retry)
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
