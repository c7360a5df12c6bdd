"""The job-type registry: what each type is (its function, params serializer and options).

Types are declared with @job_type (jobs/types.py), which also makes each a Celery task. This
module imports nothing of the project's, so the services and the worker can look types up.
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
    # Celery's rate limit for the type, as "10/s", "100/m"; None for none. Flower can change it.
    rate_limit: str | None = None
    # Celery's late ack, per type; None means the global CELERY_TASK_ACKS_LATE (on).
    acks_late: bool | None = None
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


def job_type_register(job_type: JobType) -> None:
    """Add a type (jobs/types.py's @job_type does); a second function under a taken name is an error."""
    taken = _registry.get(job_type.name)
    if taken is not None and taken.func is not job_type.func:
        raise ValueError(f"Job type {job_type.name!r} is already registered by {taken.func!r}.")
    _registry[job_type.name] = job_type


def job_type_get(name: str) -> JobType | None:
    return _registry.get(name)


def job_type_list() -> list[JobType]:
    return sorted(_registry.values(), key=lambda jt: jt.name)


def job_type_names() -> list[str]:
    return sorted(_registry)


def unknown_job_type_message(name: str) -> str:
    return f"Unknown job type {name!r}. Valid types: {', '.join(job_type_names())}."
