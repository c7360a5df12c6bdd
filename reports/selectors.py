"""Every read for reports: the job metrics of a window, and the reports a user may see.

Each metric group is one SQL query over an index range (jobs.created_at or jobs.finished_at);
no job row is loaded into Python. Durations come back as timedeltas and leave as seconds.
"""

from datetime import datetime, timedelta

from django.db.models import Count, DateTimeField, F, Func, Max, Q, QuerySet, Value
from django.db.models.aggregates import Aggregate

from jobs.models import Job, JobStatus
from reports.models import Report

RUN_TIME = F("finished_at") - F("started_at")
QUEUE_WAIT = F("started_at") - F("created_at")


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont: the value at `fraction` of the ordered input, interpolated
    linearly between the two nearest rows. Several over the same input share one sort."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, *, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError(f"a percentile fraction is between 0 and 1, got {fraction!r}")
        # A float we checked, so formatting it into the SQL is safe.
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


class DateBin(Func):
    """date_bin(stride, source, origin): the start of the stride-long bucket `source` falls in."""

    function = "date_bin"
    output_field = DateTimeField()

    def __init__(self, source, *, stride: timedelta, origin: datetime):
        super().__init__(Value(stride), source, Value(origin))


def jobs_created_in(*, start: datetime, end: datetime, owner=None) -> QuerySet[Job]:
    """Jobs created in [start, end); everyone's when owner is None."""
    jobs = Job.objects.filter(created_at__gte=start, created_at__lt=end)
    return jobs if owner is None else jobs.filter(owner=owner)


def jobs_finished_in(*, start: datetime, end: datetime, owner=None) -> QuerySet[Job]:
    """Jobs that reached a terminal status in [start, end); everyone's when owner is None."""
    jobs = Job.objects.filter(finished_at__gte=start, finished_at__lt=end)
    return jobs if owner is None else jobs.filter(owner=owner)


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds(), 6)


def _counts_by(jobs: QuerySet[Job], field: str) -> dict[str, int]:
    rows = jobs.order_by().values(field).annotate(count=Count("*")).order_by("-count", field)
    return {row[field]: row["count"] for row in rows}


def report_status_counts(*, jobs: QuerySet[Job]) -> dict[str, int]:
    return _counts_by(jobs, "status")


def report_type_counts(*, jobs: QuerySet[Job]) -> dict[str, int]:
    return _counts_by(jobs, "type")


def report_queue_wait(*, jobs: QuerySet[Job]) -> dict:
    """Seconds from submission to a worker starting the job (its last attempt, if retried)."""
    started = jobs.filter(started_at__isnull=False)
    wait = started.aggregate(
        count=Count("*"),
        p50=Percentile(QUEUE_WAIT, fraction=0.5),
        p95=Percentile(QUEUE_WAIT, fraction=0.95),
    )
    return {"count": wait["count"], "p50": _seconds(wait["p50"]), "p95": _seconds(wait["p95"])}


def report_throughput(*, jobs: QuerySet[Job], start: datetime, end: datetime, bucket: timedelta) -> dict:
    """Finished jobs per bucket, by outcome; every bucket of the window is listed, empty ones too."""
    rows = (
        jobs.order_by()
        .annotate(bucket=DateBin("finished_at", stride=bucket, origin=start))
        .values("bucket")
        .annotate(
            succeeded=Count("pk", filter=Q(status=JobStatus.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
            cancelled=Count("pk", filter=Q(status=JobStatus.CANCELLED)),
        )
    )
    by_start = {row.pop("bucket"): row for row in rows}
    empty = {"succeeded": 0, "failed": 0, "cancelled": 0}
    starts = [start + n * bucket for n in range(int((end - start) / bucket))]
    buckets = [{"start": at, **by_start.get(at, empty)} for at in starts]
    return {"bucket_s": int(bucket.total_seconds()), "buckets": buckets}


def report_per_type(*, jobs: QuerySet[Job]) -> dict[str, dict]:
    """Run times and failure rates per type, in one pass over the jobs.

    run_time: seconds from a worker starting the job to its end (p50, p95, p99, max); jobs
    cancelled before they started have none. failure_rate: failed / (succeeded + failed);
    cancelled jobs count for neither.
    """
    started = Q(started_at__isnull=False)
    percentiles = {
        name: Percentile(RUN_TIME, fraction=fraction, filter=started)
        for name, fraction in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)]
    }
    rows = (
        jobs.order_by()
        .values("type")
        .annotate(
            runs=Count("pk", filter=started),
            **percentiles,
            max=Max(RUN_TIME, filter=started),
            succeeded=Count("pk", filter=Q(status=JobStatus.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
        )
        .order_by("type")
    )
    run_time = {
        row["type"]: {"count": row["runs"], **{key: _seconds(row[key]) for key in [*percentiles, "max"]}}
        for row in rows
        if row["runs"]
    }
    failure_rate = {
        row["type"]: {
            "succeeded": row["succeeded"],
            "failed": row["failed"],
            "rate": round(row["failed"] / (row["succeeded"] + row["failed"]), 6),
        }
        for row in rows
        if row["succeeded"] + row["failed"]
    }
    return {"run_time": run_time, "failure_rate": failure_rate}


def report_top_errors(*, jobs: QuerySet[Job], limit: int = 10) -> list[dict]:
    rows = (
        jobs.filter(status=JobStatus.FAILED)
        .order_by()
        .values("error_type")
        .annotate(count=Count("*"))
        .order_by("-count", "error_type")[:limit]
    )
    return [{"type": row["error_type"] or "(none)", "count": row["count"]} for row in rows]


def report_slowest(*, jobs: QuerySet[Job], limit: int = 10) -> list[dict]:
    rows = (
        jobs.filter(started_at__isnull=False)
        .annotate(duration=RUN_TIME)
        .order_by("-duration", "pk")
        .values("pk", "type", "duration")[:limit]
    )
    return [{"id": row["pk"], "type": row["type"], "duration_s": _seconds(row["duration"])} for row in rows]


# --- Reports ---------------------------------------------------------------------------------


def report_list(*, user) -> QuerySet[Report]:
    """Every report for staff, the system-wide ones (owner NULL) included; anyone else's own."""
    reports = Report.objects.select_related("owner")
    return reports if user.is_staff else reports.filter(owner=user)


def report_get(*, user, report_id) -> Report | None:
    """A report the user may see, or None: another user's report is as invisible as a missing one."""
    return report_list(user=user).filter(pk=report_id).first()
