"""Publishing: a job's Celery message, sent once its row has committed; the dispatcher of due jobs."""

import logging

from celery import current_app
from django.db import transaction
from django.utils import timezone

from jobs import events
from jobs.models import BATCH_MAX_JOBS, Job, JobStatus
from jobs.registry import job_type_get

logger = logging.getLogger(__name__)


# The Celery task that runs a job (jobs/tasks.py), sent by name: the tasks call the services, not
# the other way round.
RUN_TASK = "jobs.run"


def publish_on_commit(jobs: list[Job]) -> None:
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
        "ignore_result": True,  # as the task declares: the finish stores the outcome itself
    }
    if job_type is not None and job_type.soft_time_limit is not None:
        options["soft_time_limit"] = job_type.soft_time_limit
    if job_type is not None and job_type.time_limit is not None:
        options["time_limit"] = job_type.time_limit
    return options


def job_publish(*, job: Job) -> None:
    """Send the job's Celery message. The task id is the job id, so a resend is the same task."""
    current_app.send_task(RUN_TASK, **_publish_options(job))


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
            current_app.send_task(RUN_TASK, producer=producer, **options)


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
        publish_on_commit(due)
    for job in due:
        events.event_publish(job_id=job.pk, kind="status", data={"status": JobStatus.QUEUED})
    return len(due)
