import re
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import TaskResult

from common import admin as common_admin
from jobs import admin as jobs_admin
from jobs import admin_actions
from jobs.models import Job, JobStatus, Workflow
from tests.conftest import run_job
from webhooks.models import WebhookDelivery

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


# --- The list: status, progress, filters, search ----------------------------------------------


def job_ids(page: str) -> set[str]:
    """The job ids linked from a changelist page."""
    return set(re.findall(r"/admin/jobs/job/([0-9a-f-]{36})/change/", page))


def test_it_shows_each_status_as_a_coloured_badge(admin_client, user):
    for status in JobStatus.values:
        Job.objects.create(owner=user, type="math.add", status=status)
    page = admin_client.get("/admin/jobs/job/").content.decode()
    for status, colour in [
        ("queued", "#5f7487"),
        ("running", "#1d64c2"),
        ("retrying", "#b36b00"),
        ("succeeded", "#2b7a34"),
        ("failed", "#c0392b"),
        ("cancelled", "#7b7b7b"),
    ]:
        badge = re.search(rf'<span class="job-status job-status-{status}" style="([^"]*)">(\w+)</span>', page)
        assert badge, status
        assert f"background:{colour}" in badge[1]
        assert badge[2] == JobStatus(status).label


def test_it_shows_a_progress_bar_with_the_percentage_for_jobs_that_report_progress(admin_client, user):
    Job.objects.create(
        owner=user, type="demo.countdown", status="running", progress_current=2, progress_total=5
    )
    Job.objects.create(owner=user, type="math.add", status="queued")
    page = admin_client.get("/admin/jobs/job/").content.decode()
    assert page.count('class="job-progress"') == 1
    bar = re.search(
        r'<span class="job-progress" title="2 of 5" role="progressbar".*?</span> 40%</span>', page
    )
    assert bar and "width:40%" in bar[0]


def test_it_shows_how_long_a_job_took(admin_client, user):
    started = timezone.now() - timedelta(minutes=5)
    Job.objects.create(
        owner=user,
        type="math.add",
        status="succeeded",
        started_at=started,
        finished_at=started + timedelta(seconds=2),
    )
    Job.objects.create(
        owner=user,
        type="math.add",
        status="failed",
        started_at=started,
        finished_at=started + timedelta(seconds=75),
    )
    page = admin_client.get("/admin/jobs/job/").content.decode()
    assert "2.000 s" in page and "1 min 15 s" in page


def test_it_filters_by_type_queue_status_and_created_date(admin_client, user):
    add = Job.objects.create(owner=user, type="math.add", status="failed")
    fetch = Job.objects.create(owner=user, type="http.fetch", queue="long")
    old = Job.objects.create(owner=user, type="math.add")
    Job.objects.filter(pk=old.pk).update(created_at=datetime(2024, 1, 10, 12, tzinfo=UTC))

    def listed(**params):
        return job_ids(admin_client.get("/admin/jobs/job/", params).content.decode())

    assert listed(type="http.fetch") == {str(fetch.pk)}
    assert listed(queue="long") == {str(fetch.pk)}
    assert listed(queue="default") == {str(add.pk), str(old.pk)}
    assert listed(status__exact="failed") == {str(add.pk)}
    day = {"created_at__gte": "2024-01-10 00:00:00+00:00", "created_at__lt": "2024-01-11 00:00:00+00:00"}
    assert listed(**day) == {str(old.pk)}
    assert listed(type="math.add", **day) == {str(old.pk)}


def test_its_filter_choices_come_from_code_not_from_the_table(admin_client, user):
    Job.objects.create(owner=user, type="math.add")
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get("/admin/jobs/job/").content.decode()
    assert not [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()]
    # Registered types and configured queues are offered even without a job of them.
    assert "?type=http.fetch" in page and "?queue=long" in page
    assert "?status__exact=retrying" in page
    assert "Past 7 days" in page


def test_it_finds_a_job_by_id_or_by_the_owners_exact_username_in_any_case(admin_client, jobs):
    assert job_ids(admin_client.get("/admin/jobs/job/", {"q": f" {jobs[1].pk} "}).content.decode()) == {
        str(jobs[1].pk)
    }
    assert job_ids(admin_client.get("/admin/jobs/job/", {"q": "ALICE"}).content.decode()) == {str(jobs[0].pk)}
    # Exact usernames only: a prefix or a substring would need a scan, not an index.
    assert job_ids(admin_client.get("/admin/jobs/job/", {"q": "ali"}).content.decode()) == set()


def test_it_sorts_only_by_created_date(admin_client, jobs):
    # The changelist's column 0 is the action checkbox.
    type_column = 1 + jobs_admin.JobAdmin.list_display.index("type")
    created_column = 1 + jobs_admin.JobAdmin.list_display.index("created_display")

    def order_of(sort: str) -> str:
        with CaptureQueriesContext(connection) as queries:
            admin_client.get("/admin/jobs/job/", {"o": sort})
        (page_query,) = [
            q["sql"]
            for q in queries.captured_queries
            if 'FROM "jobs_job"' in q["sql"] and "ORDER BY" in q["sql"]
        ]
        return page_query.partition("ORDER BY ")[2]

    assert order_of(str(created_column)) == '"jobs_job"."created_at" ASC, "jobs_job"."id" DESC'
    # Another column, even named in the URL, leaves the list in its default order.
    newest_first = '"jobs_job"."created_at" DESC, "jobs_job"."id" DESC'
    assert order_of(str(type_column)) == newest_first
    assert order_of(f"{type_column}.-{created_column}") == newest_first


def test_the_list_takes_a_fixed_number_of_queries_however_many_owners(
    admin_client, django_user_model, django_assert_max_num_queries
):
    for number in range(20):
        owner = django_user_model.objects.create_user(username=f"user{number}")
        Job.objects.create(owner=owner, type="math.add", progress_current=1, progress_total=2)
    # Session, user, the count, the page: owners come in the same query (list_select_related).
    with django_assert_max_num_queries(5):
        page = admin_client.get("/admin/jobs/job/").content.decode()
    assert "user19" in page


# --- The count: never a COUNT(*) over the whole table ------------------------------------------


def unbounded_counts(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if "COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"].upper()
    ]


@pytest.mark.parametrize(
    "params",
    [{}, {"status__exact": "queued"}, {"type": "math.add"}, {"queue": "default"}, {"q": "alice"}, {"p": "2"}],
)
def test_no_changelist_query_counts_jobs_without_a_limit(admin_client, user, params):
    Job.objects.bulk_create([Job(owner=user, type="math.add") for _ in range(150)])
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/jobs/job/", params)
    assert response.status_code == 200
    assert unbounded_counts(queries) == []
    assert [q for q in queries.captured_queries if "jobs_job" in q["sql"] and "COUNT(" in q["sql"].upper()]


def test_a_small_table_shows_its_exact_count(admin_client, user):
    Job.objects.bulk_create([Job(owner=user, type="math.add") for _ in range(3)])
    page = admin_client.get("/admin/jobs/job/").content.decode()
    assert re.search(r"\b3 jobs\b", page)


def test_a_big_unfiltered_table_shows_postgres_estimate_and_counts_nothing(admin_client, user):
    Job.objects.bulk_create([Job(owner=user, type="math.add") for _ in range(3)])
    with (
        mock.patch.object(common_admin, "table_row_estimate", return_value=1_000_000),
        CaptureQueriesContext(connection) as queries,
    ):
        page = admin_client.get("/admin/jobs/job/").content.decode()
    assert "~1,000,000 jobs" in page
    assert "0 of 3 selected" in page
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert 'href="?p=10000"' in page  # the last page of 100 jobs each


def test_a_filtered_list_counts_up_to_the_cap_and_shows_a_lower_bound(admin_client, user):
    Job.objects.bulk_create([Job(owner=user, type="math.add") for _ in range(7)])
    with (
        mock.patch.object(common_admin.EstimatedCountPaginator, "cap", 5),
        CaptureQueriesContext(connection) as queries,
    ):
        page = admin_client.get("/admin/jobs/job/", {"type": "math.add"}).content.decode()
    assert "5+ jobs" in page
    assert [
        q["sql"] for q in queries.captured_queries if "LIMIT 6" in q["sql"] and "COUNT(" in q["sql"].upper()
    ]


def test_the_estimate_is_postgres_row_estimate_for_the_table(user):
    Job.objects.bulk_create([Job(owner=user, type="math.add") for _ in range(3)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_job")
    assert common_admin.table_row_estimate(Job.objects.all()) == 3


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
