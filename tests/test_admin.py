from unittest import mock

import pytest
from django_celery_results.models import TaskResult

from jobs import tasks
from jobs.models import Job, Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(user, other_user):
    return [
        Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2}),
        Job.objects.create(owner=other_user, type="text.uppercase", params={"text": "a"}, status="failed"),
    ]


def test_the_job_list_shows_everyones_jobs_with_owner_status_and_type(admin_client, jobs):
    page = admin_client.get("/admin/jobs/job/").content.decode()
    for job in jobs:
        assert str(job.pk) in page
    assert "alice" in page and "bob" in page
    assert "text.uppercase" in page and "Failed" in page


def test_the_job_list_filters_by_status_and_type(admin_client, jobs):
    by_status = admin_client.get("/admin/jobs/job/?status__exact=failed").content.decode()
    assert str(jobs[1].pk) in by_status and str(jobs[0].pk) not in by_status
    by_type = admin_client.get("/admin/jobs/job/?type=math.add").content.decode()
    assert str(jobs[0].pk) in by_type and str(jobs[1].pk) not in by_type


def test_the_job_list_finds_a_job_by_id_or_owner(admin_client, jobs):
    by_id = admin_client.get(f"/admin/jobs/job/?q={jobs[1].pk}").content.decode()
    assert str(jobs[1].pk) in by_id and str(jobs[0].pk) not in by_id
    by_owner = admin_client.get("/admin/jobs/job/?q=alice").content.decode()
    assert str(jobs[0].pk) in by_owner and str(jobs[1].pk) not in by_owner


def test_a_job_page_is_read_only_and_links_its_celery_result(admin_client, user):
    job = Job.objects.create(owner=user, type="math.divide", params={"x": 1, "y": 0})
    tasks.run_job.apply(kwargs={"job_id": str(job.pk)}, task_id=str(job.pk))
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
    ],
)
def test_the_celery_results_and_beat_admins_are_there(admin_client, path):
    assert admin_client.get(path).status_code == 200


def test_the_retry_action_queues_failed_jobs_and_reports_the_rest(
    admin_client, user, django_capture_on_commit_callbacks
):
    failed = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2}, status="failed")
    running = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2}, status="running")
    with (
        mock.patch.object(tasks.run_job, "apply_async") as publish,
        django_capture_on_commit_callbacks(execute=True),
    ):
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
    tasks.run_job.apply(kwargs={"job_id": str(job.pk)}, task_id=str(job.pk))
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "Job attempts" in page
    assert "ZeroDivisionError" in page


def test_a_workflow_page_lists_its_steps(admin_client, user):
    workflow = Workflow.objects.create(owner=user)
    Job.objects.create(owner=user, type="math.add", params={}, workflow=workflow, step=0)
    page = admin_client.get(f"/admin/jobs/workflow/{workflow.pk}/change/").content.decode()
    assert "math.add" in page
