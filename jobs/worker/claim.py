"""The claim: a queued job becomes this worker's running attempt, in one conditional statement."""

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from django_celery_results.models import TaskResult

from common import rows
from jobs import events, results
from jobs.models import Job, JobAttempt, JobStatus
from ops.metrics import JOB_QUEUE_WAIT_SECONDS


def job_claim(*, job_id, worker: str = "", started: TaskResult | None = None) -> Job | None:
    """Move a queued job to running, record the attempt, and return the job; None if it is
    gone or someone else has it.

    The conditional UPDATE is what makes a second delivery of the same message harmless.
    It is one SQL statement (update, attempt insert and read back), because this is the
    worker's hottest path: one round trip instead of five. `started`: the job's STARTED
    TaskResult, as Celery's backend built it (jobs/worker/task.py), stored in the same statement
    once the claim succeeds, with the attempt's start as its date_started.
    """
    now = timezone.now()
    sql, params = (
        _CLAIM_SQL.format(started=""),
        [JobStatus.RUNNING, now, now, job_id, JobStatus.QUEUED, worker, now],
    )
    if started is not None:
        started.date_started = now
        store_sql, store_params = results.task_result_upsert_sql(started, only_if="claimed")
        sql, params = _CLAIM_SQL.format(started=f", started AS ({store_sql})"), [*params, *store_params]
    try:
        job = _claim_once(sql, params)
    except (OperationalError, InterfaceError):
        # The claim is a task's first query. Rather than a health check (SELECT 1) before every
        # task, a connection that broke while idle (PostgreSQL restarted) gets one fresh try.
        connection.close()
        job = _claim_once(sql, params)
    if job is None:
        return None
    if job.queued_at is not None:
        JOB_QUEUE_WAIT_SECONDS.labels(job.type).observe(max(0.0, (now - job.queued_at).total_seconds()))
    events.event_publish(job_id=job.pk, kind="status", data={"status": job.status, "attempts": job.attempts})
    return job


def _claim_once(sql: str, params: list) -> Job | None:
    return rows.fetch_one(Job, sql, params)


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
    ){{started}}
    SELECT * FROM claimed
"""
