import re
from unittest import mock

import pytest
from django_celery_results.models import TaskResult

from jobs import admin_actions
from jobs.models import Job, Workflow
from tests.conftest import run_job
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def test_a_job_page_is_read_only_and_links_its_celery_result(admin_client, user):
    job = Job.objects.create(owner=user, type="math.divide", params={"x": 1, "y": 0})
    run_job(str(job.pk))
    response = admin_client.get(f"/admin/jobs/job/{job.pk}/change/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="_save"' not in page
    assert "ZeroDivisionError" in page and "division by zero" in page
    task_result = TaskResult.objects.get(task_id=str(job.pk))
    assert f"/admin/django_celery_results/taskresult/{task_result.pk}/change/" in page


def test_jobs_cannot_be_added_from_the_admin(admin_client):
    assert admin_client.get("/admin/jobs/job/add/").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/admin/django_celery_results/taskresult/",
        "/admin/django_celery_beat/periodictask/",
        "/admin/django_celery_beat/crontabschedule/",
        "/admin/jobs/workflow/",
        "/admin/webhooks/webhookdelivery/",
    ],
)
def test_the_celery_results_and_beat_admins_are_there(admin_client, path):
    assert admin_client.get(path).status_code == 200


def test_the_retry_action_queues_failed_jobs_and_reports_the_rest(
    admin_client, user, publish, django_capture_on_commit_callbacks
):
    failed = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2}, status="failed")
    running = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2}, status="running")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/jobs/job/",
            {"action": "retry_jobs", "_selected_action": [failed.pk, running.pk]},
            follow=True,
        )
    page = response.content.decode()
    assert "1 job(s) queued again." in page
    assert "only a failed or cancelled job can be retried" in page
    failed.refresh_from_db()
    assert failed.status == "queued"
    publish.assert_called_once()


def test_the_cancel_action_cancels_unfinished_jobs(admin_client, user):
    queued = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2})
    admin_client.post("/admin/jobs/job/", {"action": "cancel_jobs", "_selected_action": [queued.pk]})
    queued.refresh_from_db()
    assert queued.status == "cancelled"


def test_a_job_page_lists_its_attempts(admin_client, user):
    job = Job.objects.create(owner=user, type="math.divide", params={"x": 1, "y": 0})
    run_job(str(job.pk))
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "Job attempts" in page
    assert "ZeroDivisionError" in page


def test_a_workflow_page_lists_its_steps(admin_client, user):
    workflow = Workflow.objects.create(owner=user)
    Job.objects.create(owner=user, type="math.add", params={}, workflow=workflow, step=0)
    page = admin_client.get(f"/admin/jobs/workflow/{workflow.pk}/change/").content.decode()
    assert "math.add" in page


# --- Rerun -------------------------------------------------------------------------------------


def test_the_rerun_action_submits_a_new_job_with_the_same_params(
    admin_client, user, publish, django_capture_on_commit_callbacks
):
    original = Job.objects.create(
        owner=user, type="math.divide", params={"x": 1, "y": 0}, status="failed", priority=7
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/jobs/job/", {"action": "rerun_jobs", "_selected_action": [original.pk]}, follow=True
        )
    rerun = Job.objects.exclude(pk=original.pk).get()
    assert (rerun.owner, rerun.type, rerun.params, rerun.priority, rerun.status) == (
        user,
        "math.divide",
        {"x": 1, "y": 0},
        7,
        "queued",
    )
    publish.assert_called_once()
    assert publish.call_args.kwargs["task_id"] == str(rerun.pk)
    original.refresh_from_db()
    assert original.status == "failed"
    page = response.content.decode()
    assert "1 job(s) submitted again as new jobs." in page
    assert f"/admin/jobs/job/{rerun.pk}/change/" in page


def test_an_action_on_too_many_jobs_does_nothing(admin_client, user):
    Job.objects.bulk_create([Job(owner=user, type="math.add") for _ in range(3)])
    with mock.patch.object(admin_actions, "ACTION_MAX_JOBS", 2):
        response = admin_client.post(
            "/admin/jobs/job/",
            {"action": "cancel_jobs", "select_across": "1", "_selected_action": ["x"]},
            follow=True,
        )
    assert "More than 2 jobs selected; nothing was done." in response.content.decode()
    assert not Job.objects.filter(status="cancelled").exists()


# --- The job page --------------------------------------------------------------------------------


def test_a_job_page_pretty_prints_params_error_and_traceback(admin_client, user):
    job = Job.objects.create(owner=user, type="math.divide", params={"x": 1, "y": 0})
    run_job(str(job.pk))
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "{\n  &quot;x&quot;: 1,\n  &quot;y&quot;: 0\n}</pre>" in page
    assert "ZeroDivisionError: division by zero</pre>" in page
    assert "Traceback (most recent call last):" in page
    assert 'class="job-status job-status-failed"' in page


def test_a_job_page_pretty_prints_the_result_of_a_succeeded_job(admin_client, user):
    job = Job.objects.create(owner=user, type="data.process", params={"data": {"a": 1}})
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "succeeded"
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "&quot;key_count&quot;: 1,\n" in page
    assert "Traceback (most recent call last)" not in page


def test_a_job_page_links_its_celery_result_and_its_task_in_flower(admin_client, user, settings):
    settings.FLOWER_URL = "http://flower.example:5555"
    job = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2})
    run_job(str(job.pk))
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    task_result = TaskResult.objects.get(task_id=str(job.pk))
    assert f'href="/admin/django_celery_results/taskresult/{task_result.pk}/change/"' in page
    assert f'href="http://flower.example:5555/task/{job.pk}"' in page


def test_a_job_page_lists_its_webhook_deliveries(admin_client, user):
    job = Job.objects.create(owner=user, type="math.add", callback_url="https://example.com/hook")
    WebhookDelivery.objects.create(
        job=job, url=job.callback_url, attempt=1, status_code=503, duration_ms=12, error="HTTP 503"
    )
    WebhookDelivery.objects.create(job=job, url=job.callback_url, attempt=2, status_code=200, delivered=True)
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "Webhook deliveries" in page
    assert "HTTP 503" in page and "503" in page and "200" in page


def test_a_job_page_is_still_read_only(admin_client, user):
    job = Job.objects.create(owner=user, type="math.add")
    assert admin_client.get(f"/admin/jobs/job/{job.pk}/history/").status_code == 200
    assert admin_client.post(f"/admin/jobs/job/{job.pk}/change/", {"type": "x"}).status_code == 403
    assert admin_client.post(f"/admin/jobs/job/{job.pk}/delete/").status_code == 403


# --- Webhook deliveries ---------------------------------------------------------------------------


def test_the_delivery_list_filters_by_status_class_and_finds_a_job_s_deliveries(admin_client, user):
    first = Job.objects.create(owner=user, type="math.add", callback_url="https://a.example/hook")
    second = Job.objects.create(owner=user, type="math.add", callback_url="https://b.example/hook")
    WebhookDelivery.objects.create(job=first, url=first.callback_url, attempt=1, status_code=503)
    WebhookDelivery.objects.create(job=second, url=second.callback_url, attempt=1)  # no answer

    def listed(**params):
        page = admin_client.get("/admin/webhooks/webhookdelivery/", params).content.decode()
        return set(re.findall(r"https://[ab]\.example/hook", page))

    assert listed(status_class="5") == {"https://a.example/hook"}
    assert listed(status_class="none") == {"https://b.example/hook"}
    assert listed(q=str(second.pk)) == {"https://b.example/hook"}
    assert listed(q="https://A.example") == {"https://a.example/hook"}
