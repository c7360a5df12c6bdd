"""Everything that changes a job. Views, tasks, the admin and manage.py all call these."""

import logging
import traceback

from celery import current_app, states
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from jobs import tasks
from jobs.models import Job, JobStatus
from jobs.registry import job_type_get, unknown_job_type_message

logger = logging.getLogger(__name__)


class UnknownJobType(Exception):
    """A queued job names a type this worker does not have (removed, or a worker on old code)."""


def job_params_validate(*, type: str, params) -> dict:
    """Return the type's validated params, or raise ValidationError keyed by `type` or `params`."""
    job_type = job_type_get(type)
    if job_type is None:
        raise ValidationError({"type": [unknown_job_type_message(type)]})
    serializer = job_type.params(data=params)
    valid = serializer.is_valid()
    # DRF drops unknown keys silently; a typo in a param name should not pass for a default.
    errors = {name: ["Unknown parameter."] for name in params if name not in serializer.fields}
    if not valid or errors:
        raise ValidationError({"params": {**serializer.errors, **errors}})
    return dict(serializer.validated_data)


def job_create(*, owner, type: str, params: dict) -> Job:
    """Validate and record a job; its Celery message is published once the transaction commits.

    If publishing fails (Redis down), the job stays `queued` in the ledger rather than
    the request failing after the job was already committed.
    """
    validated = job_params_validate(type=type, params=params)
    with transaction.atomic():
        job = Job.objects.create(owner=owner, type=type, params=validated)

        def publish_after_commit():
            try:
                job_publish(job_id=job.id)
            except Exception:
                logger.exception("could not publish job %s; it stays queued in the ledger", job.id)

        transaction.on_commit(publish_after_commit)
    return job


def job_publish(*, job_id) -> None:
    """Send the job's Celery message. The task id is the job id, so a resend is the same task."""
    tasks.run_job.apply_async(kwargs={"job_id": str(job_id)}, task_id=str(job_id))


def job_claim(*, job_id) -> Job | None:
    """Move a queued job to running and return it; None if it is gone or someone else has it.

    The conditional UPDATE is what makes a second delivery of the same message harmless.
    """
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return Job.objects.get(pk=job_id)


def job_execute(*, job: Job, task) -> object:
    """Run a claimed job's function and record its outcome; re-raise its exception on failure.

    `task` is the bound Celery task running the job: its backend and request give the
    TaskResult row the same shape Celery would have written (name, args, worker).
    """
    from jobs.context import JobContext  # the context calls back into this module

    try:
        job_type = job_type_get(job.type)
        if job_type is None:
            raise UnknownJobType(f"No job type {job.type!r} is registered on this worker.")
        result = job_type.func(JobContext(job), **job.params)
        _job_finish(job=job, task=task, status=JobStatus.SUCCEEDED, result=result)
    except Exception as exc:
        _job_finish(job=job, task=task, status=JobStatus.FAILED, exc=exc)
        raise
    return result


def _job_finish(*, job: Job, task, status: str, result=None, exc: BaseException | None = None) -> None:
    """Store the outcome in TaskResult and the terminal status on the job, atomically.

    Both land in one transaction, so nobody sees a succeeded job without its result.
    """
    values = {"status": status, "finished_at": timezone.now()}
    if exc is not None:
        values.update(error_type=type(exc).__name__, error_message=str(exc) or repr(exc))
    with transaction.atomic():
        finished = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(**values)
        if not finished:
            logger.warning("job %s left the running state before it finished; outcome dropped", job.pk)
            return
        if exc is None:
            current_app.backend.store_result(str(job.pk), result, states.SUCCESS, request=task.request)
        else:
            tb = "".join(traceback.format_exception(exc))
            current_app.backend.store_result(
                str(job.pk), exc, states.FAILURE, traceback=tb, request=task.request
            )


def job_report_progress(*, job_id, current: int, total: int, message: str = "") -> None:
    if total <= 0 or current < 0:
        raise ValueError(f"progress needs 0 <= current and 0 < total, got {current}/{total}")
    Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        progress_current=min(current, total), progress_total=total, progress_message=message[:500]
    )
