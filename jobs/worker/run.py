"""Running a claimed job: its function, then its outcome (success, failure, or a retry later)."""

import logging
from datetime import datetime, timedelta

from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from common.backoff import full_jitter_s
from jobs import events
from jobs.exceptions import JobCancelled, TimeLimitExceeded
from jobs.models import Job, JobStatus
from jobs.registry import JobType
from jobs.selectors import job_result_of
from jobs.services.attempts import attempt_finish
from jobs.services.finish import error_dict, job_finish
from jobs.services.submit import job_params_validate, json_storable_problem
from jobs.worker.context import JobContext
from jobs.worker.heartbeats import heartbeats
from ops.metrics import JOB_RUN_SECONDS, JOBS_RETRIED

logger = logging.getLogger(__name__)


def job_execute(*, job: Job, task) -> object:
    """Run a claimed job's function and record its outcome.

    On an error the type declares retryable, with attempts left, the job goes to
    `retrying` and Celery's Retry is raised (so Flower shows a retry); the dispatcher
    publishes it again when the backoff is over. Any other error fails the job and is
    re-raised. `task` is the bound Celery task (jobs/worker/task.py): it finds the job's type,
    and its backend and request give the TaskResult row the shape Celery would have written.
    """
    job_type = None
    try:
        job_type = task.job_type_for(job)
        params = _params_for_run(job, job_type)
        with heartbeats.beating(job=job):
            if job_type.transactional:
                result = _run_in_transaction(job=job, job_type=job_type, params=params, task=task)
            else:
                result = job_type.func(JobContext(job), **params)
                _check_result(result)
                job_finish(job=job, task=task, status=JobStatus.SUCCEEDED, result=result)
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
        job_finish(job=job, task=task, status=JobStatus.FAILED, exc=exc)
        raise exc from None
    except Exception as exc:
        if job_type is not None and _is_retryable(job, job_type, exc):
            retry_at = _job_schedule_retry(job=job, job_type=job_type, exc=exc)
            raise Retry(
                f"attempt {job.attempts} failed; next at {retry_at.isoformat()}", exc=exc, when=retry_at
            ) from exc
        job_finish(job=job, task=task, status=JobStatus.FAILED, exc=exc)
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
    with transaction.atomic():
        result = job_type.func(JobContext(job), **params)
        _check_result(result)
        if not job_finish(job=job, task=task, status=JobStatus.SUCCEEDED, result=result):
            raise _Superseded
    return result


def _params_for_run(job: Job, job_type: JobType) -> dict:
    if job.workflow_id is None or not job.step:
        return job.params
    previous = Job.objects.filter(workflow_id=job.workflow_id, step=job.step - 1).first()
    return job_params_validate(type=job.type, params={**job.params, "previous": job_result_of(previous)})


def _is_retryable(job: Job, job_type: JobType, exc: Exception) -> bool:
    return (
        bool(job_type.retry_on)
        and isinstance(exc, job_type.retry_on)
        and job.attempts <= job_type.max_retries
    )


def _job_schedule_retry(*, job: Job, job_type: JobType, exc: Exception) -> datetime:
    delay = full_jitter_s(retry=job.attempts, base_s=job_type.backoff_s, cap_s=job_type.backoff_max_s)
    retry_at = timezone.now() + timedelta(seconds=delay)
    error = {"error_type": type(exc).__name__, "error_message": str(exc) or repr(exc)}
    with transaction.atomic():
        moved = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts).update(
            status=JobStatus.RETRYING, run_at=retry_at, **error
        )
        if moved:
            attempt_finish(job=job, **error)
    if moved:
        JOBS_RETRIED.labels(job.type).inc()
        if job.started_at is not None:
            JOB_RUN_SECONDS.labels(job.type).observe((timezone.now() - job.started_at).total_seconds())
        events.event_publish(
            job_id=job.pk,
            kind="status",
            data={"status": JobStatus.RETRYING, "run_at": retry_at, "error": error_dict(**error)},
        )
    return retry_at
