"""The admin's job list: what it shows, its filters and search, and counts that never scan the table."""

import re
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common import admin as common_admin
from jobs import admin as jobs_admin
from jobs.models import Job, JobStatus

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
