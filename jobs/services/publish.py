"""Publishing: a job's Celery message, sent once its row has committed; the dispatcher of due jobs."""

import logging

from celery import current_app
from celery.app.task import Context
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import events
from jobs.models import BATCH_MAX_JOBS, Job, JobKind, JobStatus

logger = logging.getLogger(__name__)


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


# The one Celery task that runs every Django Tasks API task (jobs/tasks_api/runner.py): any
# worker can import any task's module when it runs it, which a task per path could not promise.
DJANGO_TASK_CELERY_NAME = "jobs.django_task"


def task_message_of(*, kind: str, type_name: str, params: dict) -> tuple[str, tuple, dict]:
    """The Celery task, args and kwargs a job's message carries, for Flower and TaskResult to show.

    A job type's task is named after it and takes the params as kwargs. A Django task's job is
    `jobs.django_task(path, *args, **kwargs)`, so its path and arguments show as a call would.
    """
    if kind == JobKind.TASK:
        return DJANGO_TASK_CELERY_NAME, (type_name, *params["args"]), params["kwargs"]
    return type_name, (), params


def _publish_options(job: Job) -> dict:
    """The message of the job's task (jobs/types.py): the worker runs what the row says. Limits
    and rate limits are the task's own attributes, so the worker applies them, and changes made
    from Flower too."""
    name, args, kwargs = task_message_of(kind=job.kind, type_name=job.type, params=job.params)
    return {
        "name": name,
        "args": args,
        "kwargs": kwargs,
        "task_id": str(job.pk),
        "queue": job.queue,
        "priority": broker_priority(job.priority),
        "ignore_result": True,  # as the task declares: the finish stores the outcome itself
    }


def broker_priority(priority: int) -> int:
    """The message priority of an API priority (9 the most urgent): RabbitMQ serves the highest
    number first, as the API means it; kombu's Redis transport serves 0 first."""
    return 9 - priority if settings.BROKER_IS_REDIS else priority


def job_publish(*, job: Job) -> None:
    """Send the job's Celery message. The task id is the job id, so a resend is the same task."""
    current_app.send_task(**_publish_options(job))


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
            # and the params' plain repr, cut at Celery's own limit, is given.
            if job.queue in declared:
                options["declare"] = []
            declared.add(job.queue)
            options["argsrepr"] = args_repr(options["args"])
            options["kwargsrepr"] = params_repr(options["kwargs"])
            current_app.send_task(producer=producer, **options)


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


# Celery's limit on the argument reprs a message carries for Flower (amqp.kwargsrepr_maxsize).
KWARGS_REPR_MAX = 1024


def params_repr(params: dict) -> str:
    """The params as a message's kwargsrepr: what Flower shows, and TaskResult.task_kwargs keeps."""
    return _cut(repr(params))


def args_repr(args: tuple) -> str:
    """A message's argsrepr, as Celery writes it."""
    return _cut(repr(args))


def _cut(text: str) -> str:
    return text if len(text) <= KWARGS_REPR_MAX else text[: KWARGS_REPR_MAX - 3] + "..."


def task_request_of(*, job_id, kind: str, type_name: str, params: dict) -> Context:
    """What a worker's request would say of a job, for an outcome recorded outside the job's own
    process (a cancel, a hard time limit, a lost worker): the task, args and kwargs of its
    message name the TaskResult."""
    name, args, kwargs = task_message_of(kind=kind, type_name=type_name, params=params)
    return Context(
        id=str(job_id),
        task=name,
        args=args,
        kwargs=kwargs,
        argsrepr=args_repr(args),
        kwargsrepr=params_repr(kwargs),
    )
