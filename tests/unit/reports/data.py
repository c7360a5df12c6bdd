"""What the report tests seed and call: one window of jobs with known timestamps."""

import math
from datetime import UTC, datetime, timedelta

from rest_framework.test import APIClient

from jobs.models import Job
from reports import services
from reports.models import Report

START = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)  # the window: 10:00 to 11:00
AT = "2025-06-02T11:05:00Z"
ADD_RUN_TIMES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # seconds, one math.add job each


def minutes(value: float) -> datetime:
    return START + timedelta(minutes=value)


def seed(rows: list[dict]) -> list[Job]:
    """Create jobs with the given timestamps; created_at is auto_now_add, so it is set afterwards."""
    jobs = [Job(**{key: value for key, value in row.items() if key != "created_at"}) for row in rows]
    Job.objects.bulk_create(jobs)
    for job, row in zip(jobs, rows, strict=True):
        job.created_at = row["created_at"]
    Job.objects.bulk_update(jobs, ["created_at"])
    return jobs


def row(owner, type, status, *, created, wait_s=None, run_s=None, finished=None, error_type=""):
    """A job created at `created`, started wait_s later and finished run_s after that (or at `finished`)."""
    started = None if wait_s is None else created + timedelta(seconds=wait_s)
    if finished is None and run_s is not None:
        finished = started + timedelta(seconds=run_s)
    return {
        "owner": owner,
        "type": type,
        "status": status,
        "created_at": created,
        "started_at": started,
        "finished_at": finished,
        "error_type": error_type,
    }


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def generate(owner=None, at=AT) -> Report:
    report = services.report_generate(kind="hour", at=datetime.fromisoformat(at), owner=owner)
    report.refresh_from_db()  # the data as stored: JSON, with dates as ISO strings
    return report


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's definition: linear interpolation between the two nearest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
