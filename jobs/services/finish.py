"""Finishing: a job's terminal status, its attempt and its TaskResult in one statement."""

import logging
import traceback

from celery import current_app, states
from django.db import connection, transaction
from django.utils import timezone

from jobs import events, results
from jobs.models import Job, JobAttempt, JobStatus
from jobs.services.publish import task_request_of
from jobs.signals import job_finished
from ops.metrics import JOB_RUN_SECONDS, JOBS_FINISHED

logger = logging.getLogger(__name__)


def error_dict(*, error_type: str, error_message: str) -> dict | None:
    return {"type": error_type, "message": error_message} if error_type else None


def job_finish(*, job: Job, task, status: str, result=None, exc: BaseException | None = None) -> bool:
    """Store the outcome in TaskResult and the terminal status on the job, atomically.

    One statement writes the job's status, its attempt and its TaskResult, so nobody sees a
    succeeded job without its result, and the worker pays one round trip. Only the attempt that
    is still `running` may finish the job: a newer attempt, started by the reconciler while
    this one was cut off, owns it now. Returns False when the job had already left `running`.
    """
    error = {"error_type": "", "error_message": ""}
    if exc is not None:
        error = {"error_type": type(exc).__name__, "error_message": str(exc) or repr(exc)}
    if task is not None:
        request = task.request
    else:
        request = task_request_of(job_id=job.pk, kind=job.kind, type_name=job.type, params=job.params)
    with results.task_result_captured() as captured:
        if exc is None:
            current_app.backend.store_result(str(job.pk), result, states.SUCCESS, request=request)
        else:
            tb = "".join(traceback.format_exception(exc))
            current_app.backend.store_result(str(job.pk), exc, states.FAILURE, traceback=tb, request=request)
    captured[0].date_started = job.started_at  # this attempt's start
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
    on_finished_commit(
        job_id=job.pk,
        kind=job.kind,
        type_name=job.type,
        workflow_id=job.workflow_id,
        callback_url=job.callback_url,
        status=status,
    )
    if job.started_at is not None:
        JOB_RUN_SECONDS.labels(job.type).observe((now - job.started_at).total_seconds())
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


def on_finished_commit(
    *, job_id, kind: str, type_name: str, workflow_id, callback_url: str, status: str
) -> None:
    """After the terminal status commits, count it and tell the listeners: the job's workflow,
    webhooks, and Django's task_finished for a Django task (jobs/tasks_api/runner.py)."""

    def finished():
        JOBS_FINISHED.labels(type_name, status).inc()
        job_finished.send(
            sender=Job,
            job_id=job_id,
            kind=kind,
            status=status,
            workflow_id=workflow_id,
            callback_url=callback_url,
        )

    transaction.on_commit(finished)
