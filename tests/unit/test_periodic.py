"""Periodic tasks: the code declares the defaults, beat keeps the admin's edits, and a reset
puts a task back to its declaration."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from config.celery_app import app as celery_app
from jobs.beat import SingleBeatScheduler

# Beat closes the connection of a test transaction (close_old_connections): real commits.
pytestmark = pytest.mark.django_db(transaction=True)


def beat_starts():
    """What beat does with the schedule when it starts (the lock and the ticks left out)."""
    SingleBeatScheduler(app=celery_app, lazy=True).setup_schedule()


def edit_in_the_admin(name: str) -> None:
    row = PeriodicTask.objects.get(name=name)
    row.crontab, _ = CrontabSchedule.objects.get_or_create(minute="20", hour="*/2", timezone="UTC")
    row.kwargs = '{"window": "day"}'
    row.enabled = False
    row.save()


def hourly_report() -> tuple:
    row = PeriodicTask.objects.get(name="report-hourly")
    return row.crontab.minute, row.crontab.hour, row.kwargs, row.enabled


def test_beat_creates_each_declared_task_as_the_code_says(settings):
    beat_starts()
    assert set(PeriodicTask.objects.values_list("name", flat=True)) >= set(settings.CELERY_BEAT_SCHEDULE)
    hourly = PeriodicTask.objects.get(name="report-hourly")
    daily = PeriodicTask.objects.get(name="report-daily")
    assert (hourly.task, hourly.kwargs, hourly.crontab.minute, hourly.enabled) == (
        "reports.generate_scheduled",
        '{"window": "hour"}',
        "5",
        True,
    )
    assert (daily.crontab.hour, daily.crontab.minute, daily.kwargs) == ("0", "10", '{"window": "day"}')
    # Each trigger expires before the next is due (django-celery-beat keeps `expire_seconds`).
    assert (hourly.expire_seconds, daily.expire_seconds) == (55 * 60, 23 * 3600)


def test_an_admin_edit_survives_beat_restarts_and_a_newly_declared_task_still_appears(settings):
    beat_starts()
    edit_in_the_admin("report-hourly")
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        "report-weekly": {"task": "reports.generate_scheduled", "schedule": 7 * 86400.0},
    }
    beat_starts()
    beat_starts()
    assert hourly_report() == ("20", "*/2", '{"window": "day"}', False)
    assert PeriodicTask.objects.get(name="report-weekly").interval.every == 7 * 86400


def test_manage_py_periodic_lists_the_edits_and_resets_a_task_to_its_declaration():
    beat_starts()
    edit_in_the_admin("report-hourly")
    listing = io.StringIO()
    call_command("periodic", stdout=listing)
    assert "report-hourly  reports.generate_scheduled" in listing.getvalue()
    assert "disabled  edited: crontab, kwargs, enabled" in listing.getvalue()
    assert "report-daily  reports.generate_scheduled  " in listing.getvalue()

    out = io.StringIO()
    call_command("periodic", "--reset", "report-hourly", stdout=out)
    assert out.getvalue() == "reset report-hourly to the code's declaration\n"
    assert hourly_report() == ("5", "*", '{"window": "hour"}', True)
    listing = io.StringIO()
    call_command("periodic", stdout=listing)
    assert all(line.endswith("as declared") for line in listing.getvalue().splitlines()), listing.getvalue()


def test_manage_py_periodic_refuses_a_name_the_code_does_not_declare():
    with pytest.raises(CommandError, match="declares no periodic task nightly-backup; it declares dispatch"):
        call_command("periodic", "--reset", "nightly-backup", stdout=io.StringIO())


def test_the_admin_action_resets_the_selected_declared_tasks(admin_client):
    beat_starts()
    edit_in_the_admin("report-hourly")
    undeclared = PeriodicTask.objects.create(
        name="by-hand", task="jobs.reconcile", crontab=CrontabSchedule.objects.first()
    )
    selected = [PeriodicTask.objects.get(name="report-hourly").pk, undeclared.pk]
    response = admin_client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "reset_to_code_default", "_selected_action": selected},
        follow=True,
    )
    page = response.content.decode()
    assert "Reset to the code&#x27;s declaration: report-hourly." in page
    assert "Not declared in the code, left as they are: by-hand." in page
    assert hourly_report() == ("5", "*", '{"window": "hour"}', True)
