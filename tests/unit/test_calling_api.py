"""Celery's calling API on a job type: the task of the type's name, submitting through the ledger."""

import pytest
from celery import current_app
from rest_framework.exceptions import ValidationError

from jobs.builtin_types import uppercase
from jobs.models import Job, JobStatus
from tests.conftest import run_job

pytestmark = pytest.mark.django_db


def test_the_decorated_function_is_the_task_of_the_types_name_and_still_a_plain_function():
    assert current_app.tasks["text.uppercase"] is uppercase._get_current_object()
    assert uppercase(None, text="plain") == "PLAIN"


def test_delay_writes_a_queued_job_owned_by_the_system_user_and_publishes_it(
    publish, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = uppercase.delay(text="hi")
        publish.assert_not_called()  # not before the commit
    job = Job.objects.get(pk=result.id)
    assert (job.type, job.params, job.status, job.owner.username) == (
        "text.uppercase",
        {"text": "hi"},
        JobStatus.QUEUED,
        "system",
    )
    assert publish.call_args.kwargs["kwargs"] == {"text": "hi"}
    assert publish.call_args.kwargs["task_id"] == result.id
    run_job(result.id)
    assert Job.objects.get(pk=result.id).status == JobStatus.SUCCEEDED


def test_apply_async_takes_an_owner_a_priority_and_a_countdown(publish, user):
    result = uppercase.apply_async(kwargs={"text": "later"}, countdown=60, priority=9, owner=user)
    job = Job.objects.get(pk=result.id)
    assert (job.owner, job.priority, job.status) == (user, 9, JobStatus.SCHEDULED)
    publish.assert_not_called()  # the dispatcher publishes it when it is due


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: uppercase.delay(txt="hi"), ValidationError),
        (lambda: uppercase.apply_async(kwargs={"text": "x"}, priority=10), ValidationError),
        (lambda: uppercase.delay("positional"), TypeError),
        (lambda: uppercase.apply_async(kwargs={"text": "x"}, task_id="mine"), TypeError),
        (lambda: uppercase.apply_async(kwargs={"text": "x"}, queue="elsewhere"), TypeError),
    ],
    ids=["bad-params", "priority-out-of-range", "positional-args", "own-task-id", "unsupported-option"],
)
def test_a_bad_call_is_refused_and_writes_nothing(publish, call, error):
    with pytest.raises(error):
        call()
    assert not Job.objects.exists()
    publish.assert_not_called()
