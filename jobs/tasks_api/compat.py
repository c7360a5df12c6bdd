"""The Tasks API from the django-tasks backport (Django 5.2, and while it is installed) or from
Django itself (django.tasks, Django 6.0 on): the same API under two names. The backport comes
first, so that code written against it (its @task, signals and exceptions) keeps working on
Django 6 until it is uninstalled. Everything else here imports the API from this module."""

try:
    from django_tasks import TaskContext, TaskResult, TaskResultStatus
    from django_tasks import exceptions as _exceptions
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import Task, TaskError
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started
except ImportError:
    from django.tasks import TaskContext, TaskResult, TaskResultStatus
    from django.tasks import exceptions as _exceptions
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import Task, TaskError
    from django.tasks.exceptions import TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started

# Django names it InvalidTask; the backport, InvalidTaskError.
InvalidTask = getattr(_exceptions, "InvalidTask", None) or _exceptions.InvalidTaskError

__all__ = [
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "task_enqueued",
    "task_finished",
    "task_started",
]
