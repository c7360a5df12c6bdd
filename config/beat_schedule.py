"""The default periodic tasks, which the settings name CELERY_BEAT_SCHEDULE.

Beat creates each one missing from the admin's Periodic tasks, where operators can change them;
their edits are kept (jobs/periodic.py). Each trigger expires (`expire_seconds`: django-celery-
beat drops an `expires` option) before the next one is due.
"""

from celery.schedules import crontab


def beat_schedule(*, reconcile_interval_s: int) -> dict:
    """The dispatcher of due jobs every second, the reconcilers, and the hourly and daily reports."""
    return {
        "dispatch-due-jobs": {
            "task": "jobs.dispatch_due",
            "schedule": 1.0,
            "options": {"expire_seconds": 10},
        },
        "reconcile-jobs": {
            "task": "jobs.reconcile",
            "schedule": float(reconcile_interval_s),
            "options": {"expire_seconds": reconcile_interval_s},
        },
        "reconcile-webhooks": {
            "task": "webhooks.reconcile",
            "schedule": float(reconcile_interval_s),
            "options": {"expire_seconds": reconcile_interval_s},
        },
        # Each run reports the last complete hour or day before it. A trigger still waiting in the
        # queue after the next boundary would report the wrong window, so it expires before that.
        "report-hourly": {
            "task": "reports.generate_scheduled",
            "schedule": crontab(minute=5),
            "kwargs": {"window": "hour"},
            "options": {"expire_seconds": 55 * 60},
        },
        "report-daily": {
            "task": "reports.generate_scheduled",
            "schedule": crontab(minute=10, hour=0),
            "kwargs": {"window": "day"},
            "options": {"expire_seconds": 23 * 3600},
        },
    }
