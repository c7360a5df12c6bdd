"""Running a Django task's job on the worker, and Django's task signals from the ledger."""

import logging
from functools import partial

from rest_framework import serializers

from jobs.models import Job, JobKind
from jobs.registry import JobType
from jobs.tasks_api.compat import TaskContext, task_finished, task_started
from jobs.tasks_api.ledger import task_import, task_result_of
from jobs.worker.task import JobTask

logger = logging.getLogger(__name__)


class TaskArguments(serializers.Serializer):
    """A Django task's job's params: the arguments it was enqueued with."""

    args = serializers.ListField()
    kwargs = serializers.DictField()


class DjangoTaskJob(JobTask):
    """The Celery task `jobs.django_task` (jobs/tasks.py): its job's row names the Django task by
    its path, and the worker imports it at run time, so it may live in any importable module. A
    path that does not import fails the job, once, naming the path."""

    def job_type_for(self, job) -> JobType:
        task = task_import(job.type)
        return JobType(
            name=job.type,
            func=partial(_run, task),
            params=TaskArguments,
            description=(task.func.__doc__ or "").strip(),
        )

    def apply_async(self, *args, **kwargs):
        raise TypeError("Enqueue a Django task with its own .enqueue(), not through jobs.django_task.")


def _run(task, ctx, *, args: list, kwargs: dict):
    """The task's function, after task_started, with a TaskContext if it takes one."""
    backend = task.get_backend()
    running = task_result_of(job=ctx.job, task=task, backend=backend.alias)
    task_started.send(type(backend), task_result=running)
    if task.takes_context:
        return task.call(TaskContext(task_result=running), *args, **kwargs)
    return task.call(*args, **kwargs)


def send_task_finished(sender, *, job_id, kind: str = JobKind.TYPE, **kwargs) -> None:
    """The job_finished receiver (connected in jobs/apps.py): Django's task_finished, with the
    TaskResult as the ledger has it, in the process that finished the job (the worker's, or the
    one that cancelled it)."""
    if kind != JobKind.TASK:
        return
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return
    try:
        task = task_import(job.type)
        backend = task.get_backend()
        result = task_result_of(job=job, task=task, backend=backend.alias)
        # Robust: this runs once the outcome has committed, beside the job's other listeners
        # (webhooks, workflows); a receiver's error is logged, and changes no job's outcome.
        answers = task_finished.send_robust(type(backend), task_result=result)
    except Exception:
        logger.exception("job %s: Django's task_finished could not be sent for %r", job_id, job.type)
        return
    for receiver, error in answers:
        if isinstance(error, Exception):
            logger.error("job %s: a task_finished receiver (%r) raised %r", job_id, receiver, error)
