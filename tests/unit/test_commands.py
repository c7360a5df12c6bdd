import io
import json
import uuid
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper

from jobs.management.commands import _jobcli
from jobs.management.commands.submit import parse_params
from jobs.models import Job, JobStatus
from jobs.services.operate import job_cancel
from jobs.services.submit import job_create, job_spec_build
from jobs.worker.claim import job_claim
from jobs.worker.progress import job_report_progress
from tests.conftest import run_job

pytestmark = pytest.mark.django_db


class Tty(io.StringIO):
    def isatty(self):
        return True


def run(*args, stderr=None, **options):
    """Call a command; return (stdout, stderr) as text."""
    out, err = io.StringIO(), stderr or io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def run_task(job_id):
    return run_job(str(job_id))


@pytest.fixture
def admin(django_user_model, settings):
    return django_user_model.objects.create_superuser(username=settings.ADMIN_USERNAME, password="x")


def submitted(user, type, **params):
    job, _ = job_create(owner=user, spec=job_spec_build(type=type, params=params))
    return job


# --- Parsing -------------------------------------------------------------------------------


def test_values_that_parse_as_json_become_numbers_objects_and_literals():
    params = parse_params(["x=2", "y=2.5", 'data={"a": 1}', "items=[1, 2]", "flag=true", "none=null"])
    assert params == {"x": 2, "y": 2.5, "data": {"a": 1}, "items": [1, 2], "flag": True, "none": None}


def test_values_that_do_not_parse_as_json_stay_text():
    params = parse_params(["word=hello", "sentence=hello world", 'quoted="42"', "empty=", "nan=NaN"])
    assert params == {"word": "hello", "sentence": "hello world", "quoted": "42", "empty": "", "nan": "NaN"}


def test_only_the_first_equals_sign_separates_key_and_value():
    assert parse_params(["text=a=b"]) == {"text": "a=b"}


@pytest.mark.parametrize("pair", ["x", "=2"])
def test_a_param_without_key_and_equals_sign_is_refused(pair):
    with pytest.raises(CommandError, match="key=value"):
        parse_params([pair])


def test_a_param_given_twice_is_refused():
    with pytest.raises(CommandError, match="more than once"):
        parse_params(["x=1", "x=2"])


# --- submit ------------------------------------------------------------------------------


def test_submit_creates_a_job_owned_by_the_admin_and_publishes_it_on_commit(
    admin, publish, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        out, _ = run("submit", "math.add", "x=2", "y=3")
        publish.assert_not_called()
    job = Job.objects.get()
    assert out == f"{job.pk}\n"
    assert (job.owner, job.type, job.params, job.status) == (admin, "math.add", {"x": 2, "y": 3}, "queued")
    assert len(callbacks) == 1
    publish.assert_called_once()
    assert publish.call_args.kwargs["task_id"] == str(job.pk)


def test_submit_passes_text_params_as_strings(admin, publish):
    run("submit", "text.uppercase", "text=hello")
    assert Job.objects.get().params == {"text": "hello"}


def test_submit_takes_the_owner_priority_and_delay_from_options(user, publish):
    run("submit", "math.add", "x=1", "y=2", "--user", "alice", "--priority", "9", "--delay", "60")
    job = Job.objects.get()
    assert (job.owner, job.priority, job.status) == (user, 9, JobStatus.SCHEDULED)
    assert job.run_at is not None
    publish.assert_not_called()


def test_submit_takes_a_start_time_in_iso_8601(admin, publish):
    run("submit", "math.add", "x=1", "y=2", "--run-at", "2099-01-01T09:00:00Z")
    job = Job.objects.get()
    assert (job.status, job.run_at.isoformat()) == (JobStatus.SCHEDULED, "2099-01-01T09:00:00+00:00")


def test_submit_refuses_a_missing_owner_clearly(publish):
    with pytest.raises(CommandError, match="No user 'admin'"):
        run("submit", "math.add", "x=1", "y=2")
    with pytest.raises(CommandError, match="No user 'nobody'"):
        run("submit", "math.add", "x=1", "y=2", "--user", "nobody")
    assert not Job.objects.exists()


def test_an_unknown_type_names_the_valid_types(admin, publish):
    with pytest.raises(CommandError) as error:
        run("submit", "math.sqrt", "x=4")
    message = str(error.value)
    assert "type: Unknown job type 'math.sqrt'. Valid types: " in message
    assert "math.add" in message and "text.uppercase" in message
    assert not Job.objects.exists()


def test_bad_params_are_reported_field_by_field(admin, publish):
    with pytest.raises(CommandError) as error:
        run("submit", "math.divide", "x=ten", "z=1")
    lines = str(error.value).splitlines()
    assert lines[0] == "The job was not submitted:"
    assert "  params.x: A valid number is required." in lines
    assert "  params.y: This field is required." in lines
    assert "  params.z: Unknown parameter." in lines
    assert not Job.objects.exists()


def test_options_are_validated_as_the_api_does_and_named_as_options(admin, publish):
    with pytest.raises(CommandError) as error:
        run("submit", "math.add", "x=1", "y=2", "--priority", "10")
    assert "  --priority: Ensure this value is less than or equal to 9." in str(error.value)
    with pytest.raises(CommandError, match="--run-at: Datetime has wrong format"):
        run("submit", "math.add", "x=1", "y=2", "--run-at", "tomorrow")


def test_timeout_without_wait_is_refused(admin, publish):
    with pytest.raises(CommandError, match="--timeout only applies with --wait"):
        run("submit", "math.add", "x=1", "y=2", "--timeout", "5")


# --- submit --wait -------------------------------------------------------------------------
# The job runs when it is published, on commit: these tests need real commits.


@pytest.mark.django_db(transaction=True)
def test_wait_prints_the_id_then_the_result_as_json(admin, run_on_publish):
    out, err = run("submit", "math.add", "x=2", "y=3", "--wait")
    job = Job.objects.get()
    assert out == f"{job.pk}\n5\n"
    assert err == "succeeded\n"


@pytest.mark.django_db(transaction=True)
def test_wait_prints_a_structured_result_as_json(admin, run_on_publish):
    out, _ = run("submit", "demo.countdown", "word=liftoff", "steps=2", "delay_s=0", "--wait")
    assert out.splitlines()[1] == '"liftoff"'


@pytest.mark.django_db(transaction=True)
def test_wait_exits_1_with_the_error_when_the_job_fails(admin, run_on_publish):
    with pytest.raises(CommandError) as error:
        run("submit", "math.divide", "x=1", "y=0", "--wait")
    job = Job.objects.get()
    assert error.value.returncode == 1
    assert str(error.value) == f"Job {job.pk} failed: ZeroDivisionError: division by zero"


def test_wait_gives_up_after_the_timeout_and_says_how_to_follow(admin, publish):
    with pytest.raises(CommandError) as error:
        run("submit", "math.add", "x=1", "y=2", "--wait", "--timeout", "0.01")
    job = Job.objects.get()
    assert f"Job {job.pk} is still queued after 0.01 s" in str(error.value)
    assert f"manage.py job {job.pk} --follow" in str(error.value)


def test_wait_exits_1_when_the_job_is_cancelled_meanwhile(admin, publish):
    def cancel_while_waiting(seconds):
        job_cancel(job=Job.objects.get())

    with (
        mock.patch.object(_jobcli, "sleep", side_effect=cancel_while_waiting),
        pytest.raises(CommandError) as error,
    ):
        run("submit", "math.add", "x=1", "y=2", "--wait")
    assert str(error.value).endswith("cancelled: JobCancelled: Cancelled by request.")


# --- Watching progress ---------------------------------------------------------------------


def claimed(job):
    """The job as its worker sees it after the claim (its current attempt)."""
    return Job.objects.get(pk=job.pk)


def progressing(job):
    """Fake sleeps that move the job on: claimed, half done, done, then cancelled."""
    steps = iter(
        [
            lambda: job_claim(job_id=job.pk),
            lambda: job_report_progress(job=claimed(job), current=1, total=2, message="step 1 of 2"),
            lambda: None,  # nothing changed: nothing is printed
            lambda: job_report_progress(job=claimed(job), current=2, total=2, message="step 2 of 2"),
            lambda: job_cancel(job=job),
        ]
    )
    return mock.patch.object(_jobcli, "sleep", side_effect=lambda seconds: next(steps)())


def test_follow_prints_a_line_per_change_when_stderr_is_not_a_terminal(user, publish):
    job = submitted(user, "demo.countdown", word="go", steps=2, delay_s=0)
    with progressing(job):
        out, err = run("job", str(job.pk), "--follow")
    assert err.splitlines() == [
        "queued",
        "running",
        "running [#####.....] 50% step 1 of 2",
        "running [##########] 100% step 2 of 2",
        "cancelled [##########] 100% step 2 of 2",
    ]
    assert "Status    cancelled" in out


def test_follow_redraws_one_line_on_a_terminal(user, publish):
    job = submitted(user, "demo.countdown", word="go", steps=2, delay_s=0)
    with progressing(job):
        _, err = run("job", str(job.pk), "--follow", stderr=Tty())
    assert err == (
        "\rqueued"
        "\rrunning"
        "\rrunning [#####.....] 50% step 1 of 2"
        "\rrunning [##########] 100% step 2 of 2"
        "\rcancelled [##########] 100% step 2 of 2"
        "\n"
    )


def test_a_redrawn_line_covers_a_longer_one_and_is_not_styled_as_an_error(user):
    err = Tty()
    wrapper = OutputWrapper(err)
    wrapper.style_func = lambda text: f"<error>{text}</error>"  # what manage.py gives stderr on a terminal
    watcher = _jobcli.Watcher(wrapper)
    watcher.show(
        Job(owner=user, status="running", progress_current=1, progress_total=4, progress_message="a")
    )
    watcher.show(Job(owner=user, status="failed"))
    assert err.getvalue() == "\rrunning [##........] 25% a\r" + "failed".ljust(
        len("running [##........] 25% a")
    )


def test_progress_shows_a_bar_the_percentage_and_the_message(user):
    job = Job(owner=user, status="running", progress_current=5, progress_total=10, progress_message="step 5")
    assert _jobcli.status_line(job) == "running [#####.....] 50% step 5"
    assert _jobcli.status_line(Job(owner=user, status="queued")) == "queued"


# --- job -----------------------------------------------------------------------------------


def test_job_shows_a_failed_job_with_its_attempts_and_error(user):
    job = submitted(user, "math.divide", x=1, y=0)
    run_task(job.pk)
    out, _ = run("job", str(job.pk))
    lines = out.splitlines()
    assert lines[0] == f"Job       {job.pk}"
    assert "Type      math.divide" in lines
    assert "Status    failed" in lines
    assert "Owner     alice" in lines
    assert 'Params    {"x": 1, "y": 0}' in lines
    assert "Attempts  1" in lines
    assert any(line.startswith("          #1 on ") and "ZeroDivisionError" in line for line in lines)
    assert "Error     ZeroDivisionError: division by zero" in lines
    assert any(line.startswith("Duration  ") for line in lines)


def test_job_shows_the_result_of_a_succeeded_job(user):
    job = submitted(user, "text.uppercase", text="hello")
    run_task(job.pk)
    out, _ = run("job", str(job.pk))
    assert 'Result    "HELLO"' in out.splitlines()


def test_job_json_is_the_api_representation(user, api):
    job = submitted(user, "math.add", x=2, y=3)
    run_task(job.pk)
    out, _ = run("job", str(job.pk), "--json")
    shown = json.loads(out)
    from_api = api.get(f"/api/jobs/{job.pk}/").json()
    assert shown["result"] == from_api["result"] == 5
    assert shown["attempt_history"] == from_api["attempt_history"]
    assert {key: value for key, value in shown.items() if "url" not in key and key != "links"} == {
        key: value for key, value in from_api.items() if "url" not in key and key != "links"
    }


def test_job_shows_anyones_job(other_user):
    job = submitted(other_user, "math.add", x=1, y=2)
    out, _ = run("job", str(job.pk))
    assert "Owner     bob" in out.splitlines()


@pytest.mark.parametrize("command", ["job", "cancel", "retry"])
@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_or_malformed_id_is_an_error(command, job_id):
    with pytest.raises(CommandError, match=f"No job with id '{job_id}'"):
        run(command, job_id)


# --- cancel and retry ----------------------------------------------------------------------


def test_cancel_cancels_a_queued_job(user, publish):
    job = submitted(user, "math.add", x=1, y=2)
    out, _ = run("cancel", str(job.pk))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert out == f"Job {job.pk} is cancelled.\n"


def test_cancel_of_a_finished_job_is_a_conflict(user):
    job = submitted(user, "math.add", x=1, y=2)
    run_task(job.pk)
    with pytest.raises(CommandError, match="already succeeded; only an unfinished job can be cancelled"):
        run("cancel", str(job.pk))
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


def test_retry_queues_a_failed_job_again(user, publish, django_capture_on_commit_callbacks):
    job = submitted(user, "math.divide", x=1, y=0)
    run_task(job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run("retry", str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error_type) == (JobStatus.QUEUED, "")
    assert out == f"Job {job.pk} is queued.\n"
    assert publish.call_args.kwargs["task_id"] == str(job.pk)


def test_retry_of_a_job_that_has_not_failed_is_a_conflict(user, publish):
    job = submitted(user, "math.add", x=1, y=2)
    with pytest.raises(
        CommandError, match="The job is queued; only a failed or cancelled job can be retried"
    ):
        run("retry", str(job.pk))
