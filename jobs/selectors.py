"""Everything that reads jobs for the API, the admin and manage.py."""

import json

from django.db.models import CharField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast
from django_celery_results.models import TaskResult

from jobs.models import Job


def job_list(*, user, status: str | None = None, type: str | None = None) -> QuerySet[Job]:
    """The user's jobs, newest first, each annotated with its raw stored result."""
    jobs = Job.objects.filter(owner=user)
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
