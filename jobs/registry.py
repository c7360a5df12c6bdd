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


_registry: dict[str, JobType] = {}


def job_type(name: str, *, params: type[serializers.Serializer]):
    """Register the decorated function as the job type `name` (a dotted name, e.g. "math.add")."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in _registry and _registry[name].func is not func:
            raise ValueError(f"Job type {name!r} is already registered by {_registry[name].func!r}.")
        description = (func.__doc__ or "").strip()
        _registry[name] = JobType(name=name, func=func, params=params, description=description)
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
