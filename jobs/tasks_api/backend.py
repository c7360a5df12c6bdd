"""The Tasks backend that enqueues into the ledger: `task.enqueue(...)` writes a job, and the
worker runs it on Celery with everything a job has (retries by hand, the admin, Flower, reports,
metrics). `TASKS = {"default": {"BACKEND": "jobs.tasks_api.backend.LedgerBackend"}}`."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from jobs.models import Job, JobKind
from jobs.services.submit import JobSpec, job_create, system_user
from jobs.tasks_api.compat import BaseTaskBackend, InvalidTask, task_enqueued
from jobs.tasks_api.ledger import arguments_problem, job_priority_of, task_result_of, task_result_read

# A task's path is its job's type.
TASK_PATH_MAX = Job._meta.get_field("type").max_length


class LedgerBackend(BaseTaskBackend):
    """Each enqueued task is a job owned by the system user, published to Celery on commit.

    OPTIONS: none. QUEUES: the Celery queues tasks may name (default: all of CELERY_TASK_QUEUES).
    """

    supports_defer = True  # run_after: the job is scheduled, and the dispatcher publishes it then
    supports_async_task = True  # the worker runs a coroutine to its end
    supports_get_result = True  # from the ledger, in any process
    supports_priority = True

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        configured = {queue.name for queue in settings.CELERY_TASK_QUEUES}
        self.queues = set(params.get("QUEUES") or configured)
        if unknown := self.queues - configured:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['QUEUES'] names {', '.join(sorted(unknown))}, which no worker "
                f"consumes; the queues are {', '.join(sorted(configured))}."
            )

    def validate_task(self, task) -> None:
        if task.queue_name not in self.queues:
            raise InvalidTask(
                f"Queue {task.queue_name!r} is not one of this service's: {', '.join(sorted(self.queues))}."
            )
        super().validate_task(task)
        if len(task.module_path) > TASK_PATH_MAX:
            raise InvalidTask(f"A task's path may be {TASK_PATH_MAX} characters at most: {task.module_path}")

    def enqueue(self, task, args, kwargs):
        """Write the job in the caller's transaction; its message, and task_enqueued, follow the
        commit. A rolled-back transaction leaves no job, sends no message and no signal."""
        self.validate_task(task)
        if problem := arguments_problem(args, kwargs):
            raise TypeError(f"Task arguments must be JSON: {problem}")
        spec = JobSpec(
            kind=JobKind.TASK,
            type=task.module_path,
            params={"args": list(args), "kwargs": dict(kwargs)},
            priority=job_priority_of(task.priority),
            run_at=task.run_after,
            queue=task.queue_name,
        )
        job, _ = job_create(owner=system_user(), spec=spec)
        result = task_result_of(job=job, task=task, backend=self.alias, enqueued=True)
        # Robust: a receiver that raises must not skip the publishing of jobs enqueued after it.
        transaction.on_commit(lambda: task_enqueued.send(type(self), task_result=result), robust=True)
        return result

    def get_result(self, result_id: str):
        return task_result_read(result_id, backend=self.alias)
