"""Django's Tasks API on the ledger (jobs/tasks_api/), in-process: the worker's side runs through
the Celery task eagerly (run_on_publish). tests/e2e/test_tasks_api.py runs it on the live stack."""

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone
from django_celery_results.models import TaskResult as StoredOutcome
from django_tasks import TaskResultStatus, default_task_backend, task_backends
from django_tasks.exceptions import InvalidTaskError, TaskResultDoesNotExist
from django_tasks.signals import task_enqueued, task_finished, task_started

from jobs.models import Job, JobKind, JobStatus
from jobs.services.operate import job_cancel, job_retry
from jobs.services.submit import SYSTEM_USERNAME, JobSpec, job_create, job_rerun
from jobs.tasks_api.backend import LedgerBackend
from jobs.tasks_api.ledger import arguments_problem, job_priority_of
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard():
    """The task signals sent, as (signal name, status) in order."""
    sent = []

    def hearing(name):
        return lambda sender, task_result, **kwargs: sent.append((name, task_result.status))

    signals = {"enqueued": task_enqueued, "started": task_started, "finished": task_finished}
    receivers = {name: hearing(name) for name in signals}
    for name, receiver in receivers.items():
        signals[name].connect(receiver)
    yield sent
    for name, receiver in receivers.items():
        signals[name].disconnect(receiver)


def nested_list(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_the_default_backend_is_the_ledgers():
    assert isinstance(task_backends["default"], LedgerBackend)
    assert task_backends["default"].queues == {"default", "long"}


def test_an_enqueued_task_is_a_job_of_the_system_user_published_on_commit(publish, heard):
    with transaction.atomic():
        result = tasks.add.enqueue(2, 3)
        publish.assert_not_called()
        assert heard == []
    job = Job.objects.get(pk=result.id)
    assert (job.kind, job.type, job.params) == (
        JobKind.TASK,
        "tests.tasks.add",
        {"args": [2, 3], "kwargs": {}},
    )
    assert (job.owner.username, job.queue, job.priority, job.status) == (
        SYSTEM_USERNAME,
        "default",
        5,
        "queued",
    )
    assert result.status == TaskResultStatus.READY
    assert (result.args, result.kwargs, result.backend) == ([2, 3], {}, "default")
    assert heard == [("enqueued", TaskResultStatus.READY)]
    publish.assert_called_once()
    message = publish.call_args.kwargs
    assert (message["args"], message["kwargs"], message["task_id"]) == (
        ("tests.tasks.add", 2, 3),
        {},
        result.id,
    )


def test_a_rolled_back_enqueue_leaves_no_job_no_message_and_no_signal(publish, heard):
    with transaction.atomic():
        result = tasks.add.enqueue(1, 1)
        transaction.set_rollback(True)
    assert not Job.objects.filter(pk=result.id).exists()
    publish.assert_not_called()
    assert heard == []


def test_it_runs_through_the_worker_and_reads_its_result_from_the_ledger(run_on_publish, heard):
    result = tasks.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.attempts == 1 and result.worker_ids == [result.worker_ids[0]]
    assert result.started_at <= result.finished_at
    assert tasks.add.get_result(result.id).return_value == 5
    # Eagerly the job runs in the commit's publishing, before task_enqueued (also sent on commit).
    assert heard == [
        ("started", TaskResultStatus.RUNNING),
        ("finished", TaskResultStatus.SUCCESSFUL),
        ("enqueued", TaskResultStatus.READY),
    ]
    # Celery's tools see the call: the one task every Django task runs as, with its path first.
    stored = StoredOutcome.objects.get(task_id=result.id)
    assert stored.task_name == "jobs.django_task"
    assert "tests.tasks.add" in stored.task_args  # eagerly the args themselves; on a worker their repr


def test_a_task_that_raises_fails_with_its_exception_class_path_and_traceback(run_on_publish, heard):
    result = tasks.refuse.enqueue("no thanks")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "tests.tasks.Refused"
    assert error.exception_class is tasks.Refused
    assert "raise Refused(reason)" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018
    assert ("finished", TaskResultStatus.FAILED) in heard


def test_a_task_taking_context_sees_its_attempt_and_a_retry_is_the_next_attempt(run_on_publish):
    result = tasks.which_attempt.enqueue(fail_first=True)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    job_retry(job=Job.objects.get(pk=result.id))
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"attempt": 2, "id": result.id}
    assert result.attempts == 2
    assert result.last_attempted_at > result.started_at


def test_the_options_map_onto_the_job(publish):
    # which_attempt is declared with priority 40 on the long queue.
    result = tasks.which_attempt.enqueue()
    job = Job.objects.get(pk=result.id)
    assert (job.queue, job.priority) == ("long", job_priority_of(40)) == ("long", 7)
    assert result.task.queue_name == "long"
    later = timezone.now() + timedelta(hours=1)
    deferred = tasks.add.using(run_after=later, priority=-100).enqueue(1, 2)
    job = Job.objects.get(pk=deferred.id)
    assert (job.status, job.run_at, job.priority) == (JobStatus.SCHEDULED, later, 0)
    assert deferred.status == TaskResultStatus.READY
    assert tasks.add.get_result(deferred.id).task.run_after == later
    publish.assert_called_once()  # the deferred one waits for the dispatcher


def test_priorities_keep_their_order_and_their_defaults():
    mapped = [job_priority_of(priority) for priority in range(-100, 101)]
    assert mapped == sorted(mapped)
    assert (mapped[0], job_priority_of(0), mapped[-1]) == (0, 5, 9)
    assert job_priority_of(1) == 6 and job_priority_of(-1) == 4
    assert set(mapped) == set(range(10))
    assert all(job_priority_of(p) == 5 + math.ceil(p * 4 / 100) for p in range(1, 101))


def test_an_unknown_queue_is_refused_at_enqueue_naming_the_queues():
    with pytest.raises(InvalidTaskError, match="Queue 'nope' is not one of this service's: default, long"):
        tasks.add.using(queue_name="nope").enqueue(1, 2)
    with pytest.raises(ImproperlyConfigured, match="names fast, which no worker consumes"):
        LedgerBackend("other", {"BACKEND": "jobs.tasks_api.backend.LedgerBackend", "QUEUES": ["fast"]})


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (({1, 2}, 3), {}, "args\\[0\\]: Not JSON: Object of type set"),
        ((1,), {"y": float("nan")}, "kwargs\\['y'\\]: Numbers must be finite"),
        ((timezone.now(), 1), {}, "args\\[0\\]: Not JSON: Object of type datetime"),
        (("a\x00b", 1), {}, "args\\[0\\]: Text must not contain NUL characters"),
        ((nested_list(101), 1), {}, "args\\[0\\]: It nests more than 100 levels"),
    ],
)
def test_arguments_json_cannot_hold_are_refused_at_enqueue(publish, args, kwargs, message):
    with pytest.raises(TypeError, match=f"Task arguments must be JSON: {message}"):
        tasks.add.enqueue(*args, **kwargs)
    assert not Job.objects.exists()
    publish.assert_not_called()


def test_tuples_nested_values_and_a_written_backslash_u0000_are_json_and_pass():
    assert arguments_problem(((1, 2), {"a": [None, True]}), {"k": "v"}) == ""
    assert arguments_problem(("C:\\u0000x",), {}) == ""  # a backslash, then u0000: not a NUL


def test_a_task_whose_module_does_not_import_fails_its_job_naming_the_path(run_on_publish, user):
    spec = JobSpec(
        kind=JobKind.TASK, type="tests.gone.add", params={"args": [1], "kwargs": {}}, queue="default"
    )
    job, _ = job_create(owner=user, spec=spec)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_type) == (JobStatus.FAILED, 1, "UnknownJobType")
    assert (
        "The task 'tests.gone.add' cannot be imported here: No module named 'tests.gone'" in job.error_message
    )


def test_get_result_of_an_unknown_or_malformed_id_or_a_job_type_is_does_not_exist(user, publish):
    job, _ = job_create(owner=user, spec=JobSpec(type="math.add", params={"x": 1, "y": 2}))
    gone = JobSpec(
        kind=JobKind.TASK, type="tests.gone.add", params={"args": [], "kwargs": {}}, queue="default"
    )
    unimportable, _ = job_create(owner=user, spec=gone)
    for result_id in (
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
        str(job.pk),
        str(unimportable.pk),
    ):
        with pytest.raises(TaskResultDoesNotExist):
            default_task_backend.get_result(result_id)


def test_a_cancelled_task_has_failed_with_celerys_revoked_error(publish, heard):
    result = tasks.add.enqueue(1, 2)
    job_cancel(job=Job.objects.get(pk=result.id))
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert [error.exception_class_path for error in result.errors] == ["celery.exceptions.TaskRevokedError"]
    assert heard[-1] == ("finished", TaskResultStatus.FAILED)
    stored = StoredOutcome.objects.get(task_id=result.id)
    assert (stored.status, stored.task_name) == ("REVOKED", "jobs.django_task")
    assert stored.task_args == "\"('tests.tasks.add', 1, 2)\""


def test_a_rerun_is_a_new_job_of_the_same_task(run_on_publish):
    result = tasks.add.enqueue(20, 22)
    rerun = job_rerun(job=Job.objects.get(pk=result.id))
    assert (rerun.kind, rerun.type, rerun.params) == (JobKind.TASK, "tests.tasks.add", result_params(result))
    assert tasks.add.get_result(str(rerun.pk)).return_value == 42


def result_params(result):
    return {"args": result.args, "kwargs": result.kwargs}


def in_a_fresh_thread(function):
    """Call `function` in a thread with no event loop, as a worker process or a view would: once
    the browser tests have run, Playwright's sync API keeps a loop running in the main thread,
    where async_to_sync refuses to start."""

    def call_and_close():
        try:
            return function()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(call_and_close).result(timeout=60)


def test_a_coroutine_task_runs_to_its_end(run_on_publish):
    result = in_a_fresh_thread(lambda: tasks.add_later.enqueue(4, 5))  # run at once, in that thread
    result.refresh()
    assert result.return_value == 9


def test_aenqueue_and_aget_result_work_too(run_on_publish):
    result = in_a_fresh_thread(lambda: async_to_sync(tasks.add.aenqueue)(3, 4))
    read = in_a_fresh_thread(lambda: async_to_sync(tasks.add.aget_result)(result.id))
    assert read.return_value == 7


def test_the_systems_own_jobs_are_not_capped_like_a_users_backlog(publish, settings):
    settings.JOB_MAX_ACTIVE_PER_USER = 1
    results = [tasks.add.enqueue(n, n) for n in range(3)]
    assert Job.objects.filter(pk__in=[result.id for result in results]).count() == 3


def test_a_raising_task_enqueued_receiver_skips_no_publishing(publish):
    def broken(sender, task_result, **kwargs):
        raise RuntimeError("a listener's bug")

    task_enqueued.connect(broken)
    try:
        with transaction.atomic():
            first, second = tasks.add.enqueue(1, 1), tasks.add.enqueue(2, 2)
    finally:
        task_enqueued.disconnect(broken)
    assert {call.kwargs["task_id"] for call in publish.call_args_list} == {first.id, second.id}


def test_a_raising_task_finished_receiver_changes_no_outcome(run_on_publish, caplog):
    def broken(sender, task_result, **kwargs):
        raise RuntimeError("a listener's bug")

    task_finished.connect(broken)
    try:
        result = tasks.add.enqueue(2, 3)
    finally:
        task_finished.disconnect(broken)
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 5)
    assert any("task_finished receiver" in record.getMessage() for record in caplog.records)
