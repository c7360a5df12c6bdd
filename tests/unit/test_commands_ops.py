"""The operator's commands: `jobs` lists jobs, `prune` deletes old finished ones."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_celery_results.models import TaskResult

from jobs.management.commands.prune import parse_age
from jobs.models import Job, JobAttempt
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


class Tty(io.StringIO):
    def isatty(self):
        return True


def run(*args, stderr=None):
    """Call a command; return (stdout, stderr) as text."""
    out, err = io.StringIO(), stderr or io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def job(owner, *, age=timedelta(0), **fields):
    """A job created `age` ago."""
    created = Job.objects.create(owner=owner, **{"type": "math.add", "params": {"x": 1, "y": 2}, **fields})
    Job.objects.filter(pk=created.pk).update(created_at=timezone.now() - age)
    created.refresh_from_db()
    return created


# --- jobs --------------------------------------------------------------------------------------


def test_jobs_lists_jobs_newest_first_as_a_table(user, other_user):
    started = timezone.now()
    older = job(user, age=timedelta(hours=1), status="succeeded", started_at=started)
    Job.objects.filter(pk=older.pk).update(finished_at=started + timedelta(seconds=1.5))
    newer = job(other_user, type="text.uppercase", params={"text": "a"}, status="queued")
    out, err = run("jobs")
    header, first, second = out.splitlines()
    assert header.split() == ["ID", "TYPE", "STATUS", "OWNER", "CREATED", "DURATION"]
    assert first.split()[:4] == [str(newer.pk), "text.uppercase", "queued", "bob"]
    assert first.endswith("-")
    assert second.split()[:4] == [str(older.pk), "math.add", "succeeded", "alice"]
    assert second.endswith("1.50 s")
    assert timezone.localtime(older.created_at).strftime("%Y-%m-%d %H:%M:%S") in second
    # The columns line up under the header.
    assert first.index("text.uppercase") == header.index("TYPE") == second.index("math.add")
    assert err == ""


def test_jobs_filters_by_status_type_and_user(user, other_user):
    failed = job(user, status="failed")
    fetch = job(user, type="http.fetch", params={"url": "https://example.com/"})
    bobs = job(other_user)

    def listed(*args):
        return [line.split()[0] for line in run("jobs", *args)[0].splitlines()[1:]]

    assert listed("--status", "failed") == [str(failed.pk)]
    assert listed("--type", "http.fetch") == [str(fetch.pk)]
    assert listed("--user", "bob") == [str(bobs.pk)]
    assert listed("--user", "alice", "--status", "queued") == [str(fetch.pk)]


def test_jobs_shows_the_newest_few_and_says_there_are_more(user):
    made = [job(user, age=timedelta(minutes=minutes)) for minutes in range(5)]
    out, err = run("jobs", "--limit", "2")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(made[0].pk), str(made[1].pk)]
    assert err == "The newest 2 shown; --limit N shows more.\n"


def test_jobs_shows_twenty_by_default(user):
    Job.objects.bulk_create([Job(owner=user, type="math.add") for _ in range(25)])
    out, _ = run("jobs")
    assert len(out.splitlines()) == 1 + 20


def test_jobs_says_when_there_are_none(user):
    assert run("jobs", "--status", "failed") == ("No jobs.\n", "")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--user", "nobody"], "No user 'nobody'"),
        (["--status", "done"], "invalid choice: 'done'"),
        (["--limit", "0"], "--limit"),
        (["--limit", "many"], "--limit"),
    ],
)
def test_jobs_refuses_bad_options(user, args, message):
    with pytest.raises(CommandError, match=message):
        run("jobs", *args)


# --- prune -------------------------------------------------------------------------------------


@pytest.fixture
def old_and_new(user):
    """Jobs of every kind: old finished ones (to go), and old unfinished and recent ones (to stay)."""
    month = timedelta(days=31)
    jobs = {
        "old succeeded": job(user, age=month, status="succeeded"),
        "old failed": job(user, age=month, status="failed"),
        "old cancelled": job(user, age=month, status="cancelled"),
        "old queued": job(user, age=month, status="queued"),
        "old running": job(user, age=month, status="running"),
        "old retrying": job(user, age=month, status="retrying"),
        "old scheduled": job(user, age=month, status="scheduled"),
        "new succeeded": job(user, age=timedelta(days=29), status="succeeded"),
        "new failed": job(user, age=timedelta(hours=2), status="failed"),
    }
    for each in jobs.values():
        TaskResult.objects.create(task_id=str(each.pk), status="SUCCESS", result="3")
    return jobs


def remaining(jobs) -> set[str]:
    left = set(Job.objects.values_list("pk", flat=True))
    return {name for name, each in jobs.items() if each.pk in left}


def test_prune_deletes_old_finished_jobs_with_their_results_attempts_and_deliveries(old_and_new):
    succeeded = old_and_new["old succeeded"]
    JobAttempt.objects.create(job=succeeded, number=1, started_at=succeeded.created_at)
    WebhookDelivery.objects.create(job=succeeded, url="https://example.com/hook", attempt=1)
    out, _ = run("prune", "--older-than", "30d")
    assert out.startswith("Deleted 3 finished job(s) created before ")
    assert remaining(old_and_new) == {
        "old queued",
        "old running",
        "old retrying",
        "old scheduled",
        "new succeeded",
        "new failed",
    }
    assert set(TaskResult.objects.values_list("task_id", flat=True)) == {
        str(each.pk) for each in Job.objects.all()
    }
    assert not JobAttempt.objects.exists() and not WebhookDelivery.objects.exists()


def test_prune_takes_hours_and_minutes_too(old_and_new):
    run("prune", "--older-than", "12h")
    assert remaining(old_and_new) == {
        "old queued",
        "old running",
        "old retrying",
        "old scheduled",
        "new failed",
    }
    run("prune", "--older-than", "90m")
    assert "new failed" not in remaining(old_and_new)


def test_prune_dry_run_says_how_many_would_go_and_deletes_nothing(old_and_new):
    out, err = run("prune", "--older-than", "30d", "--dry-run")
    assert out.startswith("Would delete 3 finished job(s) created before ")
    assert err == ""
    assert len(remaining(old_and_new)) == len(old_and_new)
    assert TaskResult.objects.count() == len(old_and_new)


def test_prune_prints_a_line_per_batch_when_stderr_is_not_a_terminal(old_and_new):
    _, err = run("prune", "--older-than", "30d", "--batch-size", "2")
    assert err.splitlines() == [
        "[" + "#" * 20 + "." * 10 + "] 2/3",
        "[" + "#" * 30 + "] 3/3",
    ]


def test_prune_redraws_one_bar_on_a_terminal(old_and_new):
    _, err = run("prune", "--older-than", "30d", "--batch-size", "2", stderr=Tty())
    assert err == "\r[" + "#" * 20 + "." * 10 + "] 2/3\r[" + "#" * 30 + "] 3/3\n"


def test_prune_with_nothing_to_do_says_so(user):
    job(user, status="succeeded")
    out, err = run("prune", "--older-than", "30d")
    assert out.startswith("Deleted 0 finished job(s)")
    assert err == ""
    assert Job.objects.count() == 1


@pytest.mark.parametrize("age", ["30", "d", "30x", "-1d", "1.5d", "30 days", "0d", "", "99999999d"])
def test_prune_refuses_a_nonsense_age(old_and_new, age):
    with pytest.raises(CommandError, match="--older-than"):
        run("prune", "--older-than", age)
    assert len(remaining(old_and_new)) == len(old_and_new)


def test_prune_needs_an_age():
    with pytest.raises(CommandError, match="--older-than"):
        run("prune")


@pytest.mark.parametrize(
    "text, age", [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90))]
)
def test_ages_are_days_hours_or_minutes(text, age):
    assert parse_age(text) == age
