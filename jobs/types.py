"""Declaring a job type: a plain function, a DRF serializer for its params, and its options.

    from jobs.types import job_type

    @job_type("math.add", params=AddParams)
    def add(ctx, *, x, y):
        return x + y

The function receives a JobContext and the validated params as keyword arguments, and returns a
JSON-serializable result. The decorator registers the type (jobs/registry.py) and returns a
Celery task of the same name (jobs/worker/task.py): `add.delay(x=1, y=2)` submits a job, and
`add(ctx, x=1, y=2)` is still a plain call of the function. Modules listed in
settings.JOB_TYPE_MODULES are imported at start-up (jobs/apps.py), which is where their
decorators run.
"""

from collections.abc import Callable
from typing import Any

from celery import shared_task
from rest_framework import serializers

from jobs.registry import JobType, job_type_register
from jobs.worker.task import JobTask

# The options that are Celery's own per-task options too, so Flower, task_annotations and the
# worker apply them per type, as they would to any Celery task. Not the queue: Celery deprecates
# it as a task attribute; the job's row keeps its queue (jobs/services/submit.routed_queue).
CELERY_TASK_OPTIONS = ("rate_limit", "soft_time_limit", "time_limit", "acks_late")


def job_type(name: str, *, params: type[serializers.Serializer], **options) -> Callable[[Callable], Any]:
    """Register the decorated function as the job type `name` (a dotted name, e.g. "math.add").

    `options` are JobType's optional fields: queue, rate_limit ("10/m"), soft_time_limit,
    time_limit, acks_late, retry_on, max_retries, backoff_s, backoff_max_s, cooperative_cancel,
    transactional.
    """

    def register(func: Callable[..., Any]):
        description = (func.__doc__ or "").strip()
        job_type_register(JobType(name=name, func=func, params=params, description=description, **options))
        task_options = {key: options[key] for key in CELERY_TASK_OPTIONS if options.get(key) is not None}
        return shared_task(name=name, base=JobTask, **task_options)(func)

    return register
