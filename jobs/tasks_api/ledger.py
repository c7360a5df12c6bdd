"""A Django task's job as Django's TaskResult, and what the Tasks API says in the ledger's terms."""

import json
import math
import uuid

from django.utils.module_loading import import_string
from django_celery_results.models import TaskResult as StoredOutcome

from jobs.exceptions import UnknownJobType
from jobs.models import Job, JobAttempt, JobKind, JobStatus
from jobs.services.submit import json_storable_problem
from jobs.tasks_api.compat import Task, TaskError, TaskResult, TaskResultDoesNotExist, TaskResultStatus

# Django's four statuses. A cancelled job has FAILED, with Celery's TaskRevokedError as its error.
STATUS_OF_JOB = {
    JobStatus.PENDING: TaskResultStatus.READY,
    JobStatus.SCHEDULED: TaskResultStatus.READY,
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.RETRYING: TaskResultStatus.READY,
    JobStatus.RUNNING: TaskResultStatus.RUNNING,
    JobStatus.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.CANCELLED: TaskResultStatus.FAILED,
}


def job_priority_of(task_priority: int) -> int:
    """Django's priority (-100 to 100, 0 the default, higher first) as the service's (0 to 9, 5
    the default, higher first), keeping their order: 0 is 5, 1 to 100 are 6 to 9, -1 to -100 are
    4 to 0."""
    if task_priority > 0:
        return 5 + math.ceil(task_priority * 4 / 100)
    if task_priority < 0:
        return 5 - math.ceil(-task_priority * 5 / 100)
    return 5


def arguments_problem(args, kwargs) -> str:
    """Why the ledger cannot keep these arguments as JSON, naming the argument; "" if it can.

    Strict JSON, not Django's encoder: a datetime or a Decimal would reach the task as a string.
    """
    named = [(f"args[{index}]", value) for index, value in enumerate(args)]
    named += [(f"kwargs[{name!r}]", value) for name, value in kwargs.items()]
    for where, value in named:
        if problem := json_storable_problem(value, encoder=None):
            return f"{where}: {problem}"
    return ""


def task_import(path: str) -> Task:
    """The Task at `path` (a module-level @task); UnknownJobType naming the path otherwise."""
    try:
        task = import_string(path)
    except ImportError as error:
        raise UnknownJobType(f"The task {path!r} cannot be imported here: {error}") from error
    if not isinstance(task, Task):
        raise UnknownJobType(f"{path!r} is not a task (a function decorated with @task).")
    return task


def task_result_read(result_id: str, *, backend: str) -> TaskResult:
    """The TaskResult of the Django task's job with this id, as the ledger has it now."""
    try:
        job_id = uuid.UUID(str(result_id))
    except ValueError:
        raise TaskResultDoesNotExist(result_id) from None
    job = Job.objects.filter(pk=job_id, kind=JobKind.TASK).first()
    if job is None:
        raise TaskResultDoesNotExist(result_id)
    try:
        task = task_import(job.type)
    except UnknownJobType as error:  # a result needs its Task, which this process does not have
        raise TaskResultDoesNotExist(f"{result_id}: {error}") from error
    return task_result_of(job=job, task=task, backend=backend)


def task_result_of(*, job: Job, task: Task, backend: str, enqueued: bool = False) -> TaskResult:
    """The job as Django's TaskResult: its status, times, workers (one per attempt), and its
    return value or error from the stored outcome. `enqueued`: the job was just written (no
    attempts or outcome to read)."""
    attempts = [] if enqueued else list(JobAttempt.objects.filter(job=job).order_by("number"))
    status = STATUS_OF_JOB[job.status]
    outcome = None
    if status in {TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED}:
        outcome = StoredOutcome.objects.filter(task_id=str(job.pk)).only("result", "traceback").first()
    result = TaskResult(
        task=task.using(queue_name=job.queue, run_after=job.run_at),
        id=str(job.pk),
        status=status,
        enqueued_at=job.created_at,
        started_at=attempts[0].started_at if attempts else None,
        last_attempted_at=attempts[-1].started_at if attempts else None,
        finished_at=job.finished_at,
        args=job.params["args"],
        kwargs=job.params["kwargs"],
        backend=backend,
        errors=[_error_of(job, outcome)] if status == TaskResultStatus.FAILED else [],
        worker_ids=[attempt.worker for attempt in attempts],
    )
    if status == TaskResultStatus.SUCCESSFUL and outcome is not None:
        object.__setattr__(result, "_return_value", json.loads(outcome.result))  # as Django's backends set it
    return result


def _error_of(job: Job, outcome) -> TaskError:
    """The exception's class path and traceback from the stored outcome, as Celery serialized it
    ({"exc_module": ..., "exc_type": ...}); the job's own error for a failure without one."""
    stored = json.loads(outcome.result) if outcome is not None and outcome.result else None
    if isinstance(stored, dict) and {"exc_module", "exc_type"} <= stored.keys():
        path = f"{stored['exc_module']}.{stored['exc_type']}"
        return TaskError(exception_class_path=path, traceback=outcome.traceback or "")
    return TaskError(exception_class_path=job.error_type, traceback=job.error_message)
