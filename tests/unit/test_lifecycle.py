"""Lifecycle rules, tested at the service and API layers (the e2e tests run them for real)."""

import asyncio
from datetime import timedelta
from unittest import mock

import pytest
from celery import current_app
from celery.signals import task_failure
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from common.backoff import full_jitter_s
from jobs import events
from jobs.api.streams import job_event_stream
from jobs.exceptions import JobConflict
from jobs.models import Job, JobStatus
from jobs.services.operate import job_cancel, job_retry, jobs_prune
from jobs.services.publish import job_dispatch_due
from jobs.services.submit import job_create, job_params_validate, job_rerun, job_spec_build
from jobs.services.workflows import workflow_create
from tests.conftest import run_async

pytestmark = pytest.mark.django_db


def spec(type="math.add", **fields):
    params = fields.pop("params", {"x": 1, "y": 2})
    return job_spec_build(type=type, params=params, **fields)


def test_a_delayed_job_is_scheduled_and_not_published(user, publish, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = job_create(owner=user, spec=spec(delay_s=60))
    assert job.status == JobStatus.SCHEDULED
    assert job.run_at > timezone.now() + timedelta(seconds=50)
    publish.assert_not_called()


def test_a_run_at_in_the_past_queues_the_job_at_once(user, publish, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = job_create(owner=user, spec=spec(run_at=timezone.now() - timedelta(minutes=1)))
    assert (job.status, job.run_at) == (JobStatus.QUEUED, None)
    publish.assert_called_once()


def test_the_dispatcher_publishes_due_jobs_once_and_leaves_the_rest(
    user, publish, django_capture_on_commit_callbacks
):
    due = Job.objects.create(owner=user, type="math.add", status="scheduled", run_at=timezone.now())
    later = Job.objects.create(
        owner=user, type="math.add", status="scheduled", run_at=timezone.now() + timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert job_dispatch_due() == 1
        assert job_dispatch_due() == 0
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == (JobStatus.QUEUED, JobStatus.SCHEDULED)
    assert publish.call_count == 1
    assert publish.call_args.kwargs["task_id"] == str(due.pk)


@pytest.mark.parametrize(("priority", "redis_priority"), [(9, 0), (5, 4), (0, 9)])
def test_priority_nine_is_served_first_on_redis(
    user, publish, django_capture_on_commit_callbacks, priority, redis_priority
):
    with django_capture_on_commit_callbacks(execute=True):
        job_create(owner=user, spec=spec(priority=priority))
    assert publish.call_args.kwargs["priority"] == redis_priority


def test_a_long_type_goes_to_the_long_queue(user, publish, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_create(owner=user, spec=spec("demo.countdown", params={"word": "w"}))
    assert publish.call_args.kwargs["queue"] == "long"


def test_the_same_idempotency_key_and_request_return_the_original_job(user, publish):
    first, created = job_create(owner=user, spec=spec(), idempotency_key="k-1")
    again, created_again = job_create(owner=user, spec=spec(), idempotency_key="k-1")
    assert (created, created_again, again.pk) == (True, False, first.pk)
    with pytest.raises(JobConflict):
        job_create(owner=user, spec=spec(params={"x": 1, "y": 3}), idempotency_key="k-1")
    assert Job.objects.count() == 1


def test_idempotency_keys_belong_to_their_user(user, other_user, publish):
    mine, _ = job_create(owner=user, spec=spec(), idempotency_key="shared")
    theirs, created = job_create(owner=other_user, spec=spec(), idempotency_key="shared")
    assert created and theirs.pk != mine.pk


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_a_finished_job_cannot_be_cancelled(user, status):
    job = Job.objects.create(owner=user, type="math.add", status=status)
    with pytest.raises(JobConflict, match=f"already {status}"):
        job_cancel(job=job)


@pytest.mark.parametrize("status", ["queued", "running", "succeeded", "scheduled"])
def test_only_failed_or_cancelled_jobs_can_be_retried(user, status, publish):
    job = Job.objects.create(owner=user, type="math.add", status=status)
    with pytest.raises(JobConflict, match="only a failed or cancelled job"):
        job_retry(job=job)


def test_a_cancelled_scheduled_job_is_never_dispatched(user, publish, django_capture_on_commit_callbacks):
    job = Job.objects.create(owner=user, type="math.add", status="scheduled", run_at=timezone.now())
    job_cancel(job=job)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_dispatch_due() == 0
    publish.assert_not_called()


@pytest.mark.parametrize("attempt", [1, 2, 5, 20])
def test_the_backoff_is_jittered_below_its_exponential_ceiling(attempt):
    delays = [full_jitter_s(retry=attempt, base_s=1.0, cap_s=30) for _ in range(200)]
    ceiling = min(30, 2 ** (attempt - 1))
    assert all(0 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 100  # jitter spreads retries out


def test_a_workflow_is_validated_step_by_step_before_anything_is_stored(user):
    with pytest.raises(ValidationError) as error:
        workflow_create(
            owner=user,
            steps=[{"type": "math.add", "params": {"y": 1}}, {"type": "math.add", "params": {"y": "two"}}],
        )
    first, second = error.value.detail["steps"]
    assert first == {"params": {"x": ["This field is required."]}}  # the first step has no previous result
    assert second == {"params": {"y": ["A valid number is required."]}}
    assert not Job.objects.exists()


def test_a_later_step_takes_the_previous_result_in_place_of_its_param():
    params = job_params_validate(type="math.add", params={"y": 1, "previous": 41})
    assert params == {"x": 41, "y": 1}
    with pytest.raises(ValidationError) as error:
        job_params_validate(type="math.add", params={"y": 1, "previous": "forty"})
    assert error.value.detail["params"]["previous"] == ["A valid number is required."]


def test_the_event_stream_sends_heartbeats_while_idle_and_ends_at_a_terminal_status(user, settings):
    settings.JOB_EVENTS_HEARTBEAT_S = 1
    job = Job.objects.create(owner=user, type="math.add", status="running")
    after = events.event_last_id(job_id=job.pk)

    async def collect():
        received = []
        async for chunk in job_event_stream(job_id=job.pk, snapshot=None, after_id=after):
            received.append(chunk)
            if chunk.startswith(": heartbeat"):
                await asyncio.to_thread(
                    events.event_publish, job_id=job.pk, kind="status", data={"status": "failed"}
                )
        return received

    chunks = run_async(asyncio.wait_for(collect(), timeout=10))
    assert chunks[0] == ": heartbeat\n\n"
    assert chunks[-1].startswith("id: ") and '"status": "failed"' in chunks[-1]


def test_an_unparseable_last_event_id_is_a_400(api, user):
    job = Job.objects.create(owner=user, type="math.add")
    response = api.get(f"/api/jobs/{job.pk}/events/", HTTP_LAST_EVENT_ID="yesterday")
    assert response.status_code == 400


def test_someone_elses_event_stream_is_a_404(api, other_user):
    job = Job.objects.create(owner=other_user, type="math.add")
    assert api.get(f"/api/jobs/{job.pk}/events/").status_code == 404


def test_the_api_answers_an_idempotent_replay_with_200_and_a_changed_body_with_409(api, publish):
    body = {"type": "math.add", "params": {"x": 1, "y": 2}}
    first = api.post("/api/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    replay = api.post("/api/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    changed = api.post("/api/jobs/", {**body, "priority": 9}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert (first.status_code, replay.status_code, changed.status_code) == (202, 200, 409)
    assert replay.json()["id"] == first.json()["id"]
    assert "different request" in changed.json()["detail"]


def test_a_batch_with_one_bad_item_stores_nothing_and_says_which(api, publish):
    jobs = [{"type": "math.add", "params": {"x": 1, "y": 2}}, {"type": "math.add", "params": {"x": 1}}]
    response = api.post("/api/jobs/batch/", {"jobs": jobs}, format="json")
    assert response.status_code == 400
    assert response.json() == {"jobs": [{}, {"params": {"y": ["This field is required."]}}]}
    assert not Job.objects.exists()


def test_a_batch_over_a_thousand_jobs_is_refused(api, publish):
    jobs = [{"type": "math.add", "params": {"x": 1, "y": 2}}] * 1001
    response = api.post("/api/jobs/batch/", {"jobs": jobs}, format="json")
    assert response.status_code == 400
    assert "jobs" in response.json()


def test_a_batch_is_published_through_one_redis_pipeline(api, user, django_capture_on_commit_callbacks):
    round_trips = []

    def record(pipeline, *args, **kwargs):
        round_trips.append([command[0][0] for command in pipeline.command_stack])
        return []

    jobs = [{"type": "math.add", "params": {"x": n, "y": 1}} for n in range(50)]
    with (
        mock.patch("redis.client.Pipeline.execute", autospec=True, side_effect=record),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api.post("/api/jobs/batch/", {"jobs": jobs}, format="json")
    assert response.status_code == 202
    # All 50 messages travel in one round trip (kombu may also declare the queue binding).
    assert [n for n in (commands.count("LPUSH") for commands in round_trips) if n] == [50]


def test_run_at_and_delay_s_together_are_refused(api):
    response = api.post(
        "/api/jobs/",
        {"type": "math.add", "params": {"x": 1, "y": 2}, "delay_s": 5, "run_at": "2030-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"delay_s": ["Give run_at or delay_s, not both."]}


def test_a_job_killed_at_its_hard_time_limit_is_failed_naming_the_limit(user):
    from celery.exceptions import TimeLimitExceeded

    job = Job.objects.create(owner=user, type="test.slow", status="running", attempts=1)
    # What Celery sends from the worker's main process after killing the job's process.
    task_failure.send(
        sender=current_app.tasks["test.slow"], task_id=str(job.pk), exception=TimeLimitExceeded(5)
    )
    job.refresh_from_db()
    assert (job.status, job.error_type) == (JobStatus.FAILED, "TimeLimitExceeded")
    assert job.error_message == "The job was stopped at its hard time limit of 5 s."


def test_an_ordinary_failure_report_leaves_an_already_failed_job_alone(user):
    job = Job.objects.create(owner=user, type="math.divide", status="failed", error_type="ZeroDivisionError")
    task_failure.send(
        sender=current_app.tasks["math.divide"],
        task_id=str(job.pk),
        exception=ZeroDivisionError("division by zero"),
    )
    job.refresh_from_db()
    assert job.error_type == "ZeroDivisionError"


def test_a_rerun_is_a_new_job_with_the_same_request(user, publish):
    original = Job.objects.create(
        owner=user, type="math.add", params={"x": 1, "y": 2}, priority=7, status="failed"
    )
    rerun = job_rerun(job=original)
    assert rerun.pk != original.pk
    assert (rerun.type, rerun.params, rerun.priority, rerun.status) == (
        "math.add",
        {"x": 1, "y": 2},
        7,
        "queued",
    )


def test_prune_deletes_old_finished_jobs_and_their_results_in_batches(user):
    from django_celery_results.models import TaskResult

    old = timezone.now() - timedelta(days=40)
    finished = [Job.objects.create(owner=user, type="math.add", status="succeeded") for _ in range(5)]
    running = Job.objects.create(owner=user, type="math.add", status="running")
    recent = Job.objects.create(owner=user, type="math.add", status="succeeded")
    Job.objects.filter(pk__in=[j.pk for j in [*finished, running]]).update(created_at=old)
    for job in finished:
        TaskResult.objects.create(task_id=str(job.pk), status="SUCCESS")

    batches = list(jobs_prune(older_than=timezone.now() - timedelta(days=30), batch_size=2))
    assert batches == [2, 2, 1]
    assert set(Job.objects.values_list("pk", flat=True)) == {running.pk, recent.pk}
    assert not TaskResult.objects.exists()


def test_an_idempotent_replay_of_a_delayed_job_matches_although_time_has_passed(user, publish):
    first, _ = job_create(owner=user, spec=spec(delay_s=60), idempotency_key="later")
    again, created = job_create(owner=user, spec=spec(delay_s=60), idempotency_key="later")
    assert (again.pk, created) == (first.pk, False)


def test_an_idempotent_replay_is_answered_even_at_the_active_job_cap(user, publish, settings):
    settings.JOB_MAX_ACTIVE_PER_USER = 1
    first, _ = job_create(owner=user, spec=spec(), idempotency_key="k")
    again, created = job_create(owner=user, spec=spec(), idempotency_key="k")
    assert (again.pk, created) == (first.pk, False)
