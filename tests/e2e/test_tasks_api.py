"""Django's Tasks API against the live stack: tasks from tests/tasks.py, a plain module nothing
lists, enqueued here and run by the live Celery worker, which imports them when it runs them."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_celery_results.models import TaskResult as StoredOutcome
from django_tasks import TaskResultStatus

from jobs.models import Job, JobKind
from jobs.services.submit import JobSpec, job_create, system_user
from tests import tasks
from tests.conftest import wait_for

FINISHED = {TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED}


@pytest.fixture
def live_stack(transactional_db, web_server, celery_worker, celery_beat):
    return celery_worker


def finished(result, timeout=30):
    def done():
        result.refresh()
        return result.status in FINISHED

    wait_for(done, timeout=timeout, what=f"task result {result.id} to finish")
    return result


@pytest.mark.broker
def test_an_enqueued_task_is_a_job_run_by_the_worker_and_its_result_is_read_back(live_stack):
    result = tasks.add.enqueue(2, 3)
    job = Job.objects.get(pk=result.id)
    assert (job.kind, job.type, job.owner.username) == (JobKind.TASK, "tests.tasks.add", "system")
    finished(result)
    read = tasks.add.get_result(result.id)
    assert read.status == TaskResultStatus.SUCCESSFUL
    assert read.return_value == 5
    assert read.worker_ids[0].startswith("e2e@") and read.attempts == 1
    # Celery's own record, as the admin's Task results and Flower show it.
    stored = StoredOutcome.objects.get(task_id=result.id)
    assert (stored.status, stored.task_name) == ("SUCCESS", "jobs.django_task")
    assert stored.task_args == "\"('tests.tasks.add', 2, 3)\""
    assert stored.worker.startswith("e2e@")
    assert stored.date_done >= stored.date_created


def test_a_task_that_raises_ends_failed_with_the_exception_class_path(live_stack):
    result = finished(tasks.refuse.enqueue("not today"))
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "tests.tasks.Refused"
    assert "tests.tasks.Refused: not today" in error.traceback


def test_a_deferred_task_stays_ready_until_its_time_and_then_runs(live_stack):
    run_after = timezone.now() + timedelta(seconds=3)
    result = tasks.add.using(run_after=run_after).enqueue(20, 22)

    def due():
        result.refresh()
        read_by = timezone.now()
        if read_by < run_after:  # a read that ended before its time must find it waiting
            assert result.status == TaskResultStatus.READY and result.attempts == 0, "ran before its time"
        return read_by >= run_after

    wait_for(due, timeout=10, interval=0.2, what="the deferred task's time")
    finished(result, timeout=20)  # the dispatcher publishes it within a second or so
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 42
    assert result.started_at >= run_after


def test_an_enqueue_in_a_transaction_that_rolls_back_leaves_no_job_and_sends_nothing(live_stack):
    with transaction.atomic():
        rolled_back = tasks.add.enqueue(1, 1)
        transaction.set_rollback(True)
    assert not Job.objects.filter(pk=rolled_back.id).exists()
    # The next task runs; the worker never heard of the rolled-back one.
    after = finished(tasks.add.enqueue(1, 2))
    assert after.return_value == 3
    assert after.id in live_stack.log()
    assert rolled_back.id not in live_stack.log()


def test_a_task_whose_module_the_worker_cannot_import_fails_once_and_the_worker_goes_on(live_stack):
    # As if enqueued by code this worker does not have: its module is gone.
    spec = JobSpec(
        kind=JobKind.TASK, type="tests.gone.add", params={"args": [1], "kwargs": {}}, queue="default"
    )
    job, _ = job_create(owner=system_user(), spec=spec)
    job = wait_for(
        lambda: (row := Job.objects.get(pk=job.pk)).status == "failed" and row,
        timeout=30,
        what="the job of a task that does not import to fail",
    )
    assert (job.attempts, job.error_type) == (1, "UnknownJobType")
    assert "The task 'tests.gone.add' cannot be imported here" in job.error_message
    assert finished(tasks.add.enqueue(2, 2)).return_value == 4
