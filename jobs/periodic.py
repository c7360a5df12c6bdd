"""Periodic tasks: the code declares the defaults, and the admin's edits win.

django-celery-beat's DatabaseScheduler writes every CELERY_BEAT_SCHEDULE entry over its
PeriodicTask row each time beat starts, so an operator's change in the admin (the schedule,
enabled, the arguments) was lost at the next restart or deploy. Here a declared entry creates
its row only when there is none, so a newly declared task still appears; `periodic_task_reset`
puts a row back to what the code declares (the admin's action, `manage.py periodic --reset`).
"""

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry


class CodeDefaultEntry(ModelEntry):
    """A beat entry whose declared fields are written only into a row that does not exist yet."""

    @classmethod
    def from_entry(cls, name, app=None, **entry):
        rows = PeriodicTask._default_manager
        # Looked up first: unpacking the declaration creates its schedule's row as a side effect.
        row = rows.filter(name=name).first()
        if row is None:
            row, _ = rows.get_or_create(name=name, defaults=cls._unpack_fields(**entry))
        return cls(row, app=app)


def periodic_task_reset(*, name: str) -> PeriodicTask:
    """Put the named periodic task back to what the code declares (its task, schedule,
    arguments and options), enabled; beat picks the change up at its next tick. Raises
    KeyError for a name the code does not declare."""
    declared = settings.CELERY_BEAT_SCHEDULE[name]
    with transaction.atomic():
        row, _ = PeriodicTask._default_manager.update_or_create(
            name=name, defaults={**CodeDefaultEntry._unpack_fields(**declared), "enabled": True}
        )
    return row


def periodic_task_edits(row: PeriodicTask) -> list[str] | None:
    """The fields in which the row differs from what the code declares for it (empty when it is
    the code's default); None when the code declares no task of that name."""
    declared = settings.CELERY_BEAT_SCHEDULE.get(row.name)
    if declared is None:
        return None
    wanted = {**CodeDefaultEntry._unpack_fields(**declared), "enabled": True}
    return [name for name, value in wanted.items() if getattr(row, name) != value]
