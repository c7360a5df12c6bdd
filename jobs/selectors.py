"""Everything that reads jobs for the API, the admin and manage.py."""

import json

from django.db.models import CharField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Cast
from django_celery_results.models import TaskResult

from jobs.models import Job, JobAttempt, Workflow


def job_list(*, user, status: str | None = None, type: str | None = None) -> QuerySet[Job]:
    """The user's jobs, newest first, each annotated with its raw stored result."""
    jobs = Job.objects.filter(owner=user).prefetch_related("attempt_set")
    if status:
        jobs = jobs.filter(status=status)
    if type:
        jobs = jobs.filter(type=type)
    return _with_result(jobs)


def job_get(*, user, job_id) -> Job | None:
    """The user's job with this id, or None: another user's job is as invisible as a missing one."""
    return job_list(user=user).filter(pk=job_id).first()


def _with_result(jobs: QuerySet[Job]) -> QuerySet[Job]:
    task_result = TaskResult.objects.filter(task_id=Cast(OuterRef("pk"), CharField()))
    return jobs.annotate(result_raw=Subquery(task_result.values("result")[:1]))


def job_result(job: Job):
    """The job's return value once it has succeeded, else None. Needs a job from job_list/job_get."""
    if job.status != "succeeded" or job.result_raw is None:
        return None
    return json.loads(job.result_raw)


def job_result_of(job: Job | None):
    """The return value of any job instance (one query), or None if it has not succeeded."""
    if job is None:
        return None
    return job_result(_with_result(Job.objects.filter(pk=job.pk)).first())


def workflow_list(*, user) -> QuerySet[Workflow]:
    return Workflow.objects.filter(owner=user).prefetch_related(
        Prefetch("jobs", queryset=_with_result(Job.objects.order_by("step")).prefetch_related("attempt_set"))
    )


def workflow_get(*, user, workflow_id) -> Workflow | None:
    return workflow_list(user=user).filter(pk=workflow_id).first()


def job_attempts(*, job: Job) -> list[JobAttempt]:
    return list(job.attempt_set.order_by("number"))
