"""Reports as people reach them: the API (JSON and CSV), the page, the admin, the beat task and
manage.py report."""

import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.models import Job
from reports import tasks
from reports.models import Report
from tests.unit.reports.data import (
    AT,
    client_for,
    generate,
)

pytestmark = pytest.mark.django_db


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
