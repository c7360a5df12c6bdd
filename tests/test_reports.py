"""Reports: the SQL metrics against jobs with known timestamps, the job type, the API, the page,
the admin, the beat task and manage.py report."""

import csv
import io
import math
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from jobs.models import Job, JobStatus
from jobs.services.submit import job_create, job_spec_build
from reports import services, tasks
from reports.models import Report
from tests.conftest import run_job, wait_for

pytestmark = pytest.mark.django_db

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


@pytest.fixture
def jobs(user, other_user):
    """One window's worth of jobs, with the edge cases each selection rule decides."""
    adds = [
        row(user, "math.add", "succeeded", created=minutes(5 * i), wait_s=2, run_s=run_s)
        for i, run_s in enumerate(ADD_RUN_TIMES)  # one finishes in each of the first ten 5-minute buckets
    ]
    errors = ["ZeroDivisionError", "ZeroDivisionError", "ZeroDivisionError", "ValueError"]
    divides = [
        row(user, "math.divide", "failed", created=minutes(50), wait_s=4, run_s=0.5, error_type=error)
        for error in errors
    ]
    return seed(
        [
            *adds,
            *divides,
            row(user, "math.divide", "succeeded", created=minutes(51), wait_s=4, run_s=0.5),
            # Cancelled before a worker started it: no run time, no queue wait.
            row(user, "text.uppercase", "cancelled", created=minutes(56), finished=minutes(57)),
            row(user, "text.uppercase", "queued", created=minutes(58)),
            # Created before the window, finished in it: a run time, but not in by_status.
            row(user, "demo.countdown", "succeeded", created=minutes(-10), wait_s=1, run_s=660),
            # Created in the window, finished after it: in by_status and queue wait, not in run times.
            row(user, "math.add", "succeeded", created=minutes(59), wait_s=2, run_s=120),
            # Someone else's: only in the system-wide report.
            row(other_user, "text.uppercase", "succeeded", created=minutes(10), wait_s=1, run_s=1),
        ]
    )


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="carol", password="carol-password", is_staff=True)


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


# --- The API -------------------------------------------------------------------------------


def test_a_user_generates_a_report_of_their_own_jobs_through_the_jobs_api(
    api, jobs, user, run_on_publish, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/jobs/", {"type": "report.generate", "params": {"window": "hour", "at": AT}}, format="json"
        )
    assert response.status_code == 202
    job = api.get(f"/api/jobs/{response.json()['id']}/").json()
    assert job["status"] == "succeeded"

    listed = api.get("/api/reports/").json()["results"]
    assert [(r["id"], r["owner"], r["job"], r["created"]) for r in listed] == [
        (job["result"]["report"], "alice", job["id"], 18)
    ]
    detail = api.get(f"/api/reports/{listed[0]['id']}/").json()
    assert detail["data"]["by_status"]["succeeded"] == 12
    assert detail["page_url"].endswith(f"/reports/{listed[0]['id']}/")


def test_another_users_report_is_a_404(jobs, user, other_user):
    report = generate(owner=user)
    assert client_for(other_user).get(f"/api/reports/{report.pk}/").status_code == 404
    assert client_for(other_user).get("/api/reports/").json()["results"] == []


def test_system_wide_reports_are_for_staff_who_see_every_report(jobs, user, staff):
    system_wide, users = generate(), generate(owner=user)
    assert client_for(user).get(f"/api/reports/{system_wide.pk}/").status_code == 404
    assert client_for(staff).get(f"/api/reports/{system_wide.pk}/").json()["owner"] is None
    listed = client_for(staff).get("/api/reports/").json()["results"]
    assert {report["id"] for report in listed} == {str(system_wide.pk), str(users.pk)}


def test_a_staff_users_report_job_covers_everyones_jobs(
    jobs, staff, run_on_publish, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(staff).post(
            "/api/jobs/", {"type": "report.generate", "params": {"window": "hour", "at": AT}}, format="json"
        )
    report = Report.objects.get()
    assert (report.owner, report.data["totals"]["created"]) == (None, 19)


def test_a_report_as_csv_is_section_key_metric_value_rows(api, jobs, user):
    report = generate(owner=user)
    response = api.get(f"/api/reports/{report.pk}/?format=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "key", "metric", "value"]
    assert ["by_status", "succeeded", "count", "12"] in rows
    assert ["run_time", "math.add", "p95", "9.55"] in rows
    assert ["failure_rate", "math.divide", "rate", "0.8"] in rows
    assert ["throughput", "2025-06-02T10:50:00Z", "failed", "4"] in rows
    assert ["top_errors", "ZeroDivisionError", "count", "3"] in rows
    assert ["report", "", "kind", "hour"] in rows


def test_the_report_list_as_csv_has_one_row_per_report(api, jobs, user):
    generate(owner=user)
    generate(owner=user, at="2025-06-02T12:05:00Z")
    rows = list(csv.DictReader(io.StringIO(api.get("/api/reports/?format=csv").content.decode())))
    assert [(r["window_start"], r["created"], r["failed"]) for r in rows] == [
        ("2025-06-02T11:00:00Z", "0", "0"),
        ("2025-06-02T10:00:00Z", "18", "4"),
    ]
    first_page = api.get("/api/reports/?format=csv&page_size=1")
    assert len(first_page.content.decode().splitlines()) == 2
    assert first_page["Link"].endswith('rel="next"')


# --- The page ------------------------------------------------------------------------------


def test_the_report_page_draws_svg_charts_for_its_owner(client, jobs, user):
    report = generate(owner=user)
    client.force_login(user)
    response = client.get(f"/reports/{report.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("<svg") == 3
    assert page.count("<rect") >= 12 + 3 + 6
    assert "Throughput" in page and "math.divide" in page and "ZeroDivisionError" in page
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")


def test_the_report_page_needs_a_login(client, jobs, user):
    report = generate(owner=user)
    response = client.get(f"/reports/{report.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/api-auth/login/")


def test_the_report_page_is_a_404_for_other_users_and_open_to_staff(client, jobs, user, other_user, staff):
    mine, system_wide = generate(owner=user), generate()
    client.force_login(other_user)
    assert client.get(f"/reports/{mine.pk}/").status_code == 404
    client.force_login(user)
    assert client.get(f"/reports/{system_wide.pk}/").status_code == 404
    client.force_login(staff)
    assert client.get(f"/reports/{system_wide.pk}/").status_code == 200
    assert client.get(f"/reports/{mine.pk}/").status_code == 200


# --- The admin, beat and manage.py ------------------------------------------------------------


def test_the_admin_lists_reports_with_a_link_to_the_page(admin_client, jobs):
    report = generate()
    page = admin_client.get("/admin/reports/report/").content.decode()
    assert f'href="/reports/{report.pk}/"' in page and "View report" in page
    assert "Generate hourly report now" in page


def test_generate_now_in_the_admin_submits_a_report_job(admin_client, admin_user, publish):
    response = admin_client.post("/admin/reports/report/generate/", {"window": "day"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert (job.type, job.owner, job.params["window"]) == ("report.generate", admin_user, "day")


def test_the_beat_task_submits_a_report_job_owned_by_the_system_user(
    publish, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        tasks.generate_scheduled.apply(kwargs={"window": "hour"})
    job = Job.objects.get()
    assert (job.type, job.params["window"], job.owner.username) == ("report.generate", "hour", "system")
    assert job.owner.is_staff and not job.owner.is_active and not job.owner.has_usable_password()
    publish.assert_called_once()


# The job runs when it is published, on commit: --wait needs real commits.
@pytest.mark.django_db(transaction=True)
def test_manage_py_report_waits_and_prints_the_report(jobs, run_on_publish):
    out = io.StringIO()
    call_command("report", "--window", "hour", "--at", AT, "--wait", stdout=out, stderr=io.StringIO())
    report = Report.objects.get()
    lines = out.getvalue().splitlines()
    assert lines[0] == str(report.job_id)
    assert lines[1] == f"Report {report.pk}: hour 2025-06-02 10:00 to 2025-06-02 11:00 UTC"
    assert lines[2] == "created 19, finished 18 (succeeded 13, failed 4, cancelled 1)"
    assert report.owner is None


def test_manage_py_report_refuses_a_malformed_at(publish):
    with pytest.raises(CommandError, match=r"params\.at: Datetime has wrong format"):
        call_command("report", "--at", "yesterday", stdout=io.StringIO())


# --- End to end ----------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_report_job_over_http_shows_up_in_the_report_list(live_api):
    base = live_api.base_url
    body = {"type": "report.generate", "params": {"window": "day"}}
    job_id = live_api.post(f"{base}/api/jobs/", json=body, timeout=10).json()["id"]

    def finished():
        job = live_api.get(f"{base}/api/jobs/{job_id}/", timeout=10).json()
        return job if job["status"] in {"succeeded", "failed"} else None

    job = wait_for(finished, timeout=30, what="the report job")
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["current"] == job["progress"]["total"] == 7
    reports = live_api.get(f"{base}/api/reports/", timeout=10).json()["results"]
    assert [(r["id"], r["job"], r["owner"]) for r in reports] == [(job["result"]["report"], job_id, "alice")]
