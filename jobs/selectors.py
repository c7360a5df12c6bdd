"""Everything that reads jobs for the API, the admin and manage.py."""

import json
from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import CharField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Cast, JSONObject
from django_celery_results.models import TaskResult

from common import rows
from jobs import events
from jobs.models import TERMINAL_STATUSES, Job, JobAttempt, Workflow


def job_list(*, user, status: str | None = None, type: str | None = None) -> QuerySet[Job]:
    """The user's jobs, newest first, each with its raw stored result and its attempts."""
    jobs = Job.objects.filter(owner=user)
    if status:
        jobs = jobs.filter(status=status)
    if type:
        jobs = jobs.filter(type=type)
    return _with_result(jobs)


def job_ids_matching(*, user=None, status=None, type=None, among: list[str], limit: int) -> tuple[list, bool]:
    """Up to `limit` ids of jobs (the user's, or anyone's) that match the filters and have one
    of the statuses `among`, oldest first; and whether more match."""
    jobs = Job.objects.filter(status__in=[status] if status else among)
    if status and status not in among:
        jobs = jobs.none()
    if user is not None:
        jobs = jobs.filter(owner=user)
    if type:
        jobs = jobs.filter(type=type)
    ids = list(jobs.order_by("created_at", "id").values_list("pk", flat=True)[: limit + 1])
    return ids[:limit], len(ids) > limit


def job_terminal_events(*, job_ids: list) -> dict:
    """For those of the jobs that have finished: id -> the data of their terminal `status` event."""
    finished = _with_result(Job.objects.filter(pk__in=job_ids, status__in=TERMINAL_STATUSES))
    return {
        job.pk: events.terminal_event_data(
            status=job.status,
            error_type=job.error_type,
            error_message=job.error_message,
            finished_at=job.finished_at,
            result=job_result(job),
        )
        for job in finished.only("pk", "status", "error_type", "error_message", "finished_at")
    }


def job_get(*, user, job_id) -> Job | None:
    """The user's job with this id, or None: another user's job is as invisible as a missing one.

    The same row as job_list's, in raw SQL: this is the API's hottest read, and building the
    ORM query (two subqueries) cost more than running it.
    """
    return rows.fetch_one(Job, _JOB_GET_SQL, [job_id, user.pk], extra=("result_raw", "attempt_rows"))


def _with_result(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """Each job with its stored result and its attempts, read in the same query as the job."""
    task_result = TaskResult.objects.filter(task_id=Cast(OuterRef("pk"), CharField()))
    attempts = (
        JobAttempt.objects.filter(job=OuterRef("pk"))
        .order_by("number")
        .values(row=JSONObject(**{name: name for name in _ATTEMPT_FIELDS}))
    )
    return jobs.annotate(
        result_raw=Subquery(task_result.values("result")[:1]), attempt_rows=ArraySubquery(attempts)
    )


_ATTEMPT_FIELDS = ("number", "worker", "started_at", "finished_at", "error_type", "error_message")
_JOB_GET_SQL = f"""
    SELECT {rows.model_columns(Job, "job")},
        (SELECT result FROM {TaskResult._meta.db_table} WHERE task_id = job.id::text) AS result_raw,
        ARRAY(
            SELECT json_build_object({", ".join(f"'{name}', {name}" for name in _ATTEMPT_FIELDS)})
            FROM {JobAttempt._meta.db_table} WHERE job_id = job.id ORDER BY number
        ) AS attempt_rows
    FROM {Job._meta.db_table} job
    WHERE job.id = %s AND job.owner_id = %s
"""


def job_just_created(job: Job) -> Job:
    """A job just written, in the shape job_get returns, without reading it back: nothing has
    run yet, so it has no result and no attempts."""
    job.result_raw = None
    job.attempt_rows = []
    return job


def job_attempt_history(job: Job) -> list[dict]:
    """The attempts of a job from job_list/job_get, oldest first, with their times as datetimes."""
    return [
        {
            **row,
            "started_at": datetime.fromisoformat(row["started_at"]),
            "finished_at": row["finished_at"] and datetime.fromisoformat(row["finished_at"]),
        }
        for row in job.attempt_rows
    ]


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
        Prefetch("jobs", queryset=_with_result(Job.objects.order_by("step")))
    )


def workflow_get(*, user, workflow_id) -> Workflow | None:
    return workflow_list(user=user).filter(pk=workflow_id).first()


def job_attempts(*, job: Job) -> list[JobAttempt]:
    return list(job.attempt_set.order_by("number"))
