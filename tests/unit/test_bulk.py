"""Bulk cancel and retry: by ids or by the list's filters, with an outcome per job, over the API
and from manage.py."""

import io
import json
import uuid
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_celery_results.models import TaskResult

from jobs import events, selectors
from jobs.models import Job, JobAttempt, JobStatus
from jobs.services import operate

pytestmark = pytest.mark.django_db


def job(owner, status=JobStatus.QUEUED, type="math.add", **fields):
    return Job.objects.create(owner=owner, type=type, params={"x": 1, "y": 2}, status=status, **fields)


def outcomes(response):
    return {item["id"]: (item["outcome"], item["status"]) for item in response.json()["results"]}


def stream_statuses(job) -> list[str]:
    """The statuses in the job's event stream, in the test stack's Redis."""
    entries = events.redis_client().xrange(events.stream_key(job.pk))
    return [events.json.loads(fields[b"data"])["status"] for _, fields in entries]


def test_a_bulk_cancel_gives_each_job_its_own_outcome(
    api, user, other_user, django_capture_on_commit_callbacks
):
    queued, scheduled, done, cancelled = (
        job(user),
        job(user, JobStatus.SCHEDULED),
        job(user, JobStatus.SUCCEEDED),
        job(user, JobStatus.CANCELLED),
    )
    someone_elses, missing = job(other_user), uuid.uuid4()
    ids = [queued.pk, scheduled.pk, done.pk, cancelled.pk, someone_elses.pk, missing]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/jobs/cancel/", {"ids": [str(i) for i in ids]}, format="json")

    assert response.status_code == 200
    assert outcomes(response) == {
        str(queued.pk): ("cancelled", "cancelled"),
        str(scheduled.pk): ("cancelled", "cancelled"),
        str(done.pk): ("conflict", "succeeded"),
        str(cancelled.pk): ("already_cancelled", "cancelled"),
        str(someone_elses.pk): ("not_found", None),
        str(missing): ("not_found", None),
    }
    assert response.json()["counts"] == {
        "cancelled": 2,
        "conflict": 1,
        "already_cancelled": 1,
        "not_found": 2,
    }
    assert response.json()["more"] is False
    assert set(Job.objects.filter(status="cancelled").values_list("pk", flat=True)) == {
        queued.pk,
        scheduled.pk,
        cancelled.pk,
    }
    someone_elses.refresh_from_db()
    assert someone_elses.status == "queued"
    # Each job cancelled now has its REVOKED outcome and one terminal event, sent after commit.
    revoked = TaskResult.objects.filter(status="REVOKED").values_list("task_id", flat=True)
    assert set(revoked) == {str(queued.pk), str(scheduled.pk)}
    assert (stream_statuses(queued), stream_statuses(scheduled)) == (["cancelled"], ["cancelled"])
    assert stream_statuses(done) == stream_statuses(cancelled) == []


def test_a_bulk_cancel_of_a_running_job_finishes_its_attempt_and_stops_its_process(
    api, user, django_capture_on_commit_callbacks
):
    running = job(user, JobStatus.RUNNING, type="test.sleep", attempts=1)
    JobAttempt.objects.create(job=running, number=1, worker="w1", started_at=timezone.now())
    with (
        mock.patch("jobs.services.operate.current_app.control.broadcast") as broadcast,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api.post("/api/jobs/cancel/", {"ids": [str(running.pk)]}, format="json")
    assert outcomes(response) == {str(running.pk): ("cancelled", "cancelled")}
    attempt = JobAttempt.objects.get(job=running)
    assert (attempt.error_type, attempt.finished_at is not None) == ("JobCancelled", True)
    broadcast.assert_called_once_with("job_terminate", arguments={"job_id": str(running.pk)})


def test_each_cancelled_job_gets_a_revoked_result_named_by_its_type_with_its_params(
    api, user, django_capture_on_commit_callbacks
):
    queued = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2})
    started_at = timezone.now()
    running = Job.objects.create(
        owner=user,
        type="text.uppercase",
        params={"text": "hi"},
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=started_at,
    )
    JobAttempt.objects.create(job=running, number=1, worker="w1@host", started_at=started_at)
    with (
        mock.patch("jobs.services.operate.current_app.control.broadcast"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        api.post("/api/jobs/cancel/", {"ids": [str(queued.pk), str(running.pk)]}, format="json")
    rows = {row.task_id: row for row in TaskResult.objects.all()}
    stored = [
        (row.status, row.task_name, json.loads(row.task_kwargs), row.worker, row.date_started)
        for row in (rows[str(queued.pk)], rows[str(running.pk)])
    ]
    # As a worker's request would name them: the kwargs are the params' repr, as in the message.
    assert stored == [
        ("REVOKED", "math.add", "{'x': 1, 'y': 2}", None, None),
        ("REVOKED", "text.uppercase", "{'text': 'hi'}", "w1@host", started_at),
    ]


def test_a_bulk_cancel_by_filters_takes_the_oldest_matching_unfinished_jobs_a_batch_at_a_time(api, user):
    first, second = job(user), job(user)
    job(user, type="text.uppercase")  # another type
    job(user, JobStatus.SUCCEEDED)  # finished: not selected by the filters at all
    with mock.patch("jobs.api.views.BATCH_MAX_JOBS", 1):
        response = api.post("/api/jobs/cancel/", {"type": "math.add"}, format="json")
        assert (outcomes(response), response.json()["more"]) == (
            {str(first.pk): ("cancelled", "cancelled")},
            True,
        )
        response = api.post("/api/jobs/cancel/", {"type": "math.add"}, format="json")
        assert (outcomes(response), response.json()["more"]) == (
            {str(second.pk): ("cancelled", "cancelled")},
            False,
        )
    assert outcomes(api.post("/api/jobs/cancel/", {"type": "math.add"}, format="json")) == {}
    assert Job.objects.filter(type="text.uppercase", status="queued").count() == 1


def test_a_bulk_retry_queues_failed_and_cancelled_jobs_and_reports_the_rest(
    api, user, publish, django_capture_on_commit_callbacks
):
    failed, cancelled, queued = job(user, JobStatus.FAILED), job(user, JobStatus.CANCELLED), job(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/jobs/retry/", {"ids": [str(failed.pk), str(cancelled.pk), str(queued.pk)]}, format="json"
        )
    assert outcomes(response) == {
        str(failed.pk): ("retried", "queued"),
        str(cancelled.pk): ("retried", "queued"),
        str(queued.pk): ("conflict", "queued"),
    }
    assert sorted(call.kwargs["task_id"] for call in publish.call_args_list) == sorted(
        [str(failed.pk), str(cancelled.pk)]
    )


def test_a_bulk_retry_by_status_filter_retries_only_that_status(api, user, publish):
    failed, cancelled = job(user, JobStatus.FAILED), job(user, JobStatus.CANCELLED)
    response = api.post("/api/jobs/retry/", {"status": "failed"}, format="json")
    assert outcomes(response) == {str(failed.pk): ("retried", "queued")}
    cancelled.refresh_from_db()
    assert cancelled.status == "cancelled"
    # A filter on a status the operation cannot change selects nothing.
    assert outcomes(api.post("/api/jobs/retry/", {"status": "queued"}, format="json")) == {}


@pytest.mark.parametrize(
    "body, reason",
    [
        ({}, "Give a list of job ids, or filters"),
        ({"ids": []}, "This list may not be empty."),
        ({"ids": ["not-a-uuid"]}, "Must be a valid UUID."),
        ({"ids": [str(uuid.uuid4())] * 1001}, "Ensure this field has no more than 1000 elements."),
        ({"ids": [str(uuid.uuid4())], "status": "queued"}, "Give ids or filters (status), not both."),
        ({"ids": "x"}, 'Expected a list of items but got type "str".'),
    ],
)
def test_a_bad_bulk_request_is_a_400_naming_ids(api, user, body, reason):
    queued = job(user)
    for path in ["/api/jobs/cancel/", "/api/jobs/retry/"]:
        response = api.post(path, body, format="json")
        assert response.status_code == 400
        assert reason in str(response.json()["ids"])
    queued.refresh_from_db()
    assert queued.status == "queued"


def test_a_bad_status_filter_is_a_400_naming_status(api):
    response = api.post("/api/jobs/cancel/", {"status": "sleeping"}, format="json")
    assert response.status_code == 400
    assert "status" in response.json()


def test_the_same_id_twice_is_one_outcome(api, user):
    queued = job(user)
    response = api.post("/api/jobs/cancel/", {"ids": [str(queued.pk)] * 2}, format="json")
    assert response.json()["counts"] == {"cancelled": 1}


def test_job_ids_matching_filters_by_owner_type_and_statuses(user, other_user):
    mine, _ = job(user), job(other_user)
    job(user, JobStatus.SUCCEEDED)
    ids, more = selectors.job_ids_matching(user=user, among=[JobStatus.QUEUED], limit=10)
    assert (ids, more) == ([mine.pk], False)
    assert selectors.job_ids_matching(user=user, type="other", among=[JobStatus.QUEUED], limit=10) == (
        [],
        False,
    )


# --- manage.py cancel and retry ------------------------------------------------------------


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_cancel_by_status_and_type_cancels_every_match_in_batches(user):
    matching = [job(user) for _ in range(3)]
    other_type, running = job(user, type="text.uppercase"), job(user, JobStatus.RUNNING)
    with mock.patch("jobs.management.commands._jobcli.BATCH_MAX_JOBS", 2):
        out = run("cancel", "--status", "queued", "--type", "math.add")
    assert out == "3 job(s) matched: 3 cancelled.\n"
    assert all(Job.objects.get(pk=j.pk).status == "cancelled" for j in matching)
    assert Job.objects.get(pk=other_type.pk).status == "queued"
    assert Job.objects.get(pk=running.pk).status == "running"


def test_cancel_of_several_ids_cancels_what_it_can_and_names_the_rest(user):
    queued, done = job(user), job(user, JobStatus.FAILED)
    with pytest.raises(CommandError) as error:
        run("cancel", str(queued.pk), str(done.pk))
    assert (
        str(error.value)
        == f"Job {done.pk}: The job has already failed; only an unfinished job can be cancelled."
    )
    assert Job.objects.get(pk=queued.pk).status == "cancelled"


def test_retry_by_status_requeues_the_failed_jobs(user, publish):
    failed = job(user, JobStatus.FAILED)
    assert run("retry", "--status", "failed") == "1 job(s) matched: 1 retried.\n"
    assert Job.objects.get(pk=failed.pk).status == "queued"


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "Give job ids, or --status and/or --type."),
        (("--status", "queued", "00000000-0000-0000-0000-000000000000"), "not both"),
    ],
)
def test_cancel_needs_ids_or_filters_but_not_both(args, message):
    with pytest.raises(CommandError, match=message):
        run("cancel", *args)


@pytest.mark.django_db(transaction=True)
def test_a_bulk_cancel_commits_and_announces_a_chunk_before_it_changes_the_next(user):
    """Listeners hear of each chunk once it commits, not of all 1,000 jobs at the end."""
    jobs = [job(user) for _ in range(5)]
    announced = []

    def publish(*, job_ids, kind, data):
        statuses = dict(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("pk", "status"))
        announced.append((set(job_ids), list(statuses.values()).count("cancelled")))

    with (
        mock.patch("jobs.services.operate.BULK_CHUNK", 2),
        mock.patch.object(events, "event_publish_many", publish),
    ):
        outcomes = operate.jobs_cancel(job_ids=[j.pk for j in jobs] + [jobs[0].pk])

    ids = [j.pk for j in jobs]
    assert announced == [(set(ids[0:2]), 2), (set(ids[2:4]), 4), (set(ids[4:5]), 5)]
    assert {job_id: outcome.result for job_id, outcome in outcomes.items()} == dict.fromkeys(ids, "cancelled")


@pytest.mark.django_db(transaction=True)
def test_a_bulk_retry_in_chunks_gives_every_job_its_outcome(user, publish):
    failed = [job(user, JobStatus.FAILED) for _ in range(3)]
    queued = job(user)
    with mock.patch("jobs.services.operate.BULK_CHUNK", 2):
        outcomes = operate.jobs_retry(job_ids=[j.pk for j in [*failed, queued]])
    assert [outcomes[j.pk].result for j in failed] == ["retried"] * 3
    assert outcomes[queued.pk] == operate.Outcome(operate.CONFLICT, JobStatus.QUEUED)
    assert set(Job.objects.filter(pk__in=[j.pk for j in failed]).values_list("status", flat=True)) == {
        "queued"
    }


@pytest.mark.parametrize("redis_broker, expected", [(True, [9, 4, 0]), (False, [0, 5, 9])])
def test_the_api_priority_becomes_the_brokers_own_order(settings, redis_broker, expected):
    from jobs.services.publish import broker_priority

    settings.BROKER_IS_REDIS = redis_broker
    assert [broker_priority(priority) for priority in (0, 5, 9)] == expected
