"""The job-type registry: a job type is a plain function plus a DRF serializer for its params.

    @job_type("math.add", params=AddParams)
    def add(ctx, *, x, y):
        return x + y

The function receives a JobContext and the validated params as keyword arguments, and
returns a JSON-serializable result. Modules listed in settings.JOB_TYPE_MODULES are
imported at start-up (jobs/apps.py), which is where their decorators run.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers


@dataclass(frozen=True)
class JobType:
    name: str
    func: Callable[..., Any]
    params: type[serializers.Serializer]
    description: str
    queue: str = "default"
    # Exceptions worth another attempt, how many more attempts, and the backoff between them:
    # min(backoff_max_s, backoff_s * 2 ** (attempt - 1)), with full jitter.
    retry_on: tuple[type[BaseException], ...] = ()
    max_retries: int = 0
    backoff_s: float = 1.0
    backoff_max_s: float = 300.0
    # Per-type limits in seconds; None means the global CELERY_TASK_*TIME_LIMIT.
    soft_time_limit: float | None = None
    time_limit: float | None = None
    # True: a cancel lets the function notice ctx.cancelled and stop cleanly instead of
    # terminating its process.
    cooperative_cancel: bool = False
    # True: the function's own writes to this database commit in the same transaction as the
    # job's success, so they happen exactly once even if a worker dies midway. For short jobs
    # only: the transaction stays open while the function runs, and their progress goes to
    # live listeners (SSE) but not to the job's row, which would stay locked until the end.
    transactional: bool = False


_registry: dict[str, JobType] = {}


def job_type(name: str, *, params: type[serializers.Serializer], **options):
    """Register the decorated function as the job type `name` (a dotted name, e.g. "math.add").

    `options` are JobType's optional fields: queue, retry_on, max_retries, backoff_s,
    backoff_max_s, soft_time_limit, time_limit, cooperative_cancel, transactional.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in _registry and _registry[name].func is not func:
            raise ValueError(f"Job type {name!r} is already registered by {_registry[name].func!r}.")
        description = (func.__doc__ or "").strip()
        _registry[name] = JobType(name=name, func=func, params=params, description=description, **options)
        return func

    return register


def job_type_get(name: str) -> JobType | None:
    return _registry.get(name)


def job_type_list() -> list[JobType]:
    return sorted(_registry.values(), key=lambda jt: jt.name)


def job_type_names() -> list[str]:
    return sorted(_registry)


def unknown_job_type_message(name: str) -> str:
    return f"Unknown job type {name!r}. Valid types: {', '.join(job_type_names())}."
