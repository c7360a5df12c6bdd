"""Reports: the window, the SQL metrics against jobs with known timestamps, and the job type."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import Job, JobStatus
from jobs.services.submit import job_create, job_spec_build
from reports import services
from reports.models import Report
from tests.conftest import run_job
from tests.unit.reports.data import ADD_RUN_TIMES, AT, START, generate, minutes, percentile_cont, row, seed

pytestmark = pytest.mark.django_db


# --- The window ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "at", "start", "end"),
    [
        ("hour", "2025-06-02T11:05:00+00:00", "2025-06-02T10:00:00+00:00", "2025-06-02T11:00:00+00:00"),
        ("hour", "2025-06-02T11:00:00+00:00", "2025-06-02T10:00:00+00:00", "2025-06-02T11:00:00+00:00"),
        ("day", "2025-06-02T00:10:00+00:00", "2025-06-01T00:00:00+00:00", "2025-06-02T00:00:00+00:00"),
        ("day", "2025-06-02T01:30:00+02:00", "2025-05-31T00:00:00+00:00", "2025-06-01T00:00:00+00:00"),
    ],
)
def test_the_window_is_the_last_complete_utc_hour_or_day_before_at(kind, at, start, end):
    window = services.report_window(kind=kind, at=datetime.fromisoformat(at))
    assert window == (datetime.fromisoformat(start), datetime.fromisoformat(end))


# --- The metrics ---------------------------------------------------------------------------


def test_it_counts_the_jobs_created_in_the_window_by_status_and_type(jobs):
    data = generate().data
    assert data["by_status"] == {"succeeded": 13, "failed": 4, "cancelled": 1, "queued": 1}
    assert data["by_type"] == {"math.add": 11, "math.divide": 5, "text.uppercase": 3}
    assert data["totals"] == {"created": 19, "finished": 18, "succeeded": 13, "failed": 4, "cancelled": 1}
    assert data["selection"]["created_in_window"] == ["by_status", "by_type", "queue_wait"]


def test_run_time_percentiles_interpolate_linearly_like_percentile_cont(jobs):
    add = generate().data["run_time"]["math.add"]
    assert add == {"count": 10, "p50": 5.5, "p95": 9.55, "p99": 9.91, "max": 10.0}
    for name, fraction in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)]:
        assert add[name] == pytest.approx(percentile_cont(ADD_RUN_TIMES, fraction))


def test_run_times_count_the_jobs_that_finished_in_the_window_and_had_started(jobs):
    run_time = generate().data["run_time"]
    assert run_time["demo.countdown"] == {"count": 1, "p50": 660.0, "p95": 660.0, "p99": 660.0, "max": 660.0}
    assert run_time["math.divide"]["count"] == 5
    assert run_time["text.uppercase"]["count"] == 1  # the cancelled job never started


def test_queue_wait_is_measured_from_creation_to_start(jobs):
    # 1 s once, 2 s eleven times, 4 s five times: positions 8 and 15.2 of 17.
    assert generate().data["queue_wait"] == {"count": 17, "p50": 2.0, "p95": 4.0}


def test_the_failure_rate_is_failed_over_succeeded_plus_failed_per_type(jobs):
    rates = generate().data["failure_rate"]
    assert rates["math.divide"] == {"succeeded": 1, "failed": 4, "rate": 0.8}
    assert rates["math.add"] == {"succeeded": 10, "failed": 0, "rate": 0.0}
    assert rates["text.uppercase"] == {
        "succeeded": 1,
        "failed": 0,
        "rate": 0.0,
    }  # the cancelled one is left out


def test_it_lists_the_top_errors_and_the_slowest_jobs(jobs):
    data = generate().data
    assert data["top_errors"] == [
        {"type": "ZeroDivisionError", "count": 3},
        {"type": "ValueError", "count": 1},
    ]
    slowest = data["slowest"]
    assert len(slowest) == 10
    assert [(job["type"], job["duration_s"]) for job in slowest[:3]] == [
        ("demo.countdown", 660.0),
        ("math.add", 10.0),
        ("math.add", 9.0),
    ]
    assert slowest[0]["id"] == str(Job.objects.get(type="demo.countdown").pk)


def test_throughput_has_every_five_minute_bucket_split_by_outcome(jobs):
    throughput = generate().data["throughput"]
    assert throughput["bucket_s"] == 300
    buckets = throughput["buckets"]
    assert [bucket["start"] for bucket in buckets[:2]] == ["2025-06-02T10:00:00Z", "2025-06-02T10:05:00Z"]
    assert [(b["succeeded"], b["failed"], b["cancelled"]) for b in buckets] == [
        (2, 0, 0),  # an add and the countdown created before the window
        (1, 0, 0),
        (2, 0, 0),  # an add and the other user's job
        *[(1, 0, 0)] * 7,
        (1, 4, 0),
        (0, 0, 1),
    ]


def test_a_daily_report_has_hourly_buckets(jobs):
    report = services.report_generate(kind="day", at=datetime(2025, 6, 3, 0, 10, tzinfo=UTC))
    buckets = report.data["throughput"]["buckets"]
    assert len(buckets) == 24
    assert (buckets[10]["succeeded"], buckets[10]["failed"]) == (13, 4)
    assert buckets[11]["succeeded"] == 1  # the job that ran past the hour
    assert report.data["by_status"]["succeeded"] == 14  # the countdown was created in the day, too


def test_a_users_report_covers_only_their_own_jobs(jobs, user):
    data = generate(owner=user).data
    assert data["by_type"]["text.uppercase"] == 2
    assert data["totals"]["created"] == 18
    assert "text.uppercase" not in data["run_time"]


def test_generating_a_window_again_replaces_its_report(jobs, user):
    first = generate()
    seed([row(user, "math.add", "failed", created=minutes(30), wait_s=1, run_s=1, error_type="KeyError")])
    again = generate()
    assert Report.objects.count() == 1
    assert again.pk == first.pk
    assert again.data["by_status"]["failed"] == 5
    assert again.generated_at > first.generated_at


def test_system_wide_and_per_user_reports_of_one_window_are_kept_apart(jobs, user):
    generate()
    generate()
    generate(owner=user)
    assert Report.objects.filter(owner=None).count() == 1
    assert Report.objects.filter(owner=user).count() == 1


# --- The job type ----------------------------------------------------------------------------


def test_the_report_job_records_progress_and_creates_the_report(jobs, user, publish):
    spec = job_spec_build(type="report.generate", params={"window": "hour", "at": AT})
    job, _ = job_create(owner=user, spec=spec)
    run_job(str(job.pk))
    job.refresh_from_db()
    report = Report.objects.get()
    assert job.status == JobStatus.SUCCEEDED
    assert (job.progress_current, job.progress_total, job.progress_message) == (7, 7, "slowest jobs")
    assert (report.owner, report.job_id, report.window_start) == (user, job.pk, START)


def test_the_report_job_reports_one_step_per_metric_group(jobs, user):
    steps = []
    services.report_generate(
        kind="hour", at=datetime.fromisoformat(AT), progress=lambda *step: steps.append(step)
    )
    assert [step[:2] for step in steps] == [(n, 7) for n in range(1, 8)]
    assert steps[0][2] == "by status"


def test_at_defaults_to_the_time_of_submission(user, publish):
    before = timezone.now()
    spec = job_spec_build(type="report.generate", params={"window": "day"})
    job, _ = job_create(owner=user, spec=spec)
    job.refresh_from_db()
    # Stored in the params, so a job that waits in the queue still reports the same day.
    assert before - timedelta(seconds=1) <= parse_datetime(job.params["at"]) <= timezone.now()


def test_an_unknown_window_is_refused(api):
    response = api.post(
        "/api/jobs/", {"type": "report.generate", "params": {"window": "week"}}, format="json"
    )
    assert response.status_code == 400
    assert "window" in response.json()["params"]
