from importlib import import_module

from django.apps import AppConfig
from django.conf import settings


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from celery.signals import (
            task_failure,
            task_postrun,
            task_prerun,
            task_revoked,
            task_unknown,
            worker_process_init,
        )

        from jobs.events import events_publish_in_background
        from jobs.metrics import LedgerCollector
        from jobs.services.workflows import on_job_finished
        from jobs.signals import job_finished
        from jobs.tasks_api.runner import send_task_finished
        from jobs.worker.outcomes import (
            fail_job_of_unknown_type,
            record_lost_or_killed_job,
            record_revoked_job,
        )
        from ops.metrics import add_collector

        for module in settings.JOB_TYPE_MODULES:
            import_module(module)
        _check_time_limits()
        add_collector(LedgerCollector())  # the backlog in /metrics

        # Celery's own per-task close is disabled (settings.CELERY_DB_REUSE_MAX); treat each
        # task like a request instead, honouring CONN_MAX_AGE and CONN_HEALTH_CHECKS.
        task_prerun.connect(_close_old_connections, weak=False, dispatch_uid="jobs.close_db_prerun")
        task_postrun.connect(_close_old_connections, weak=False, dispatch_uid="jobs.close_db_postrun")
        job_finished.connect(on_job_finished, weak=False, dispatch_uid="jobs.workflows")
        job_finished.connect(send_task_finished, weak=False, dispatch_uid="jobs.tasks_api")
        task_failure.connect(record_lost_or_killed_job, weak=False, dispatch_uid="jobs.lost_or_killed")
        task_unknown.connect(fail_job_of_unknown_type, weak=False, dispatch_uid="jobs.unknown_type")
        # Flower's Revoke and Terminate, `celery control revoke`: the ledger is told.
        task_revoked.connect(record_revoked_job, weak=False, dispatch_uid="jobs.revoked")
        # A job does not wait for Redis to take its events (jobs/events.py).
        worker_process_init.connect(
            lambda **kwargs: events_publish_in_background(), weak=False, dispatch_uid="jobs.events"
        )


def _close_old_connections(sender=None, **kwargs):
    from django.db import close_old_connections

    # An eager task runs inside its caller's transaction; closing would end it (Celery skips these too).
    if not getattr(sender.request, "is_eager", False):
        close_old_connections()


def _check_time_limits():
    """A type's hard limit above the visibility timeout would get a long job delivered twice."""
    from django.core.exceptions import ImproperlyConfigured

    from jobs.registry import job_type_list

    for job_type in job_type_list():
        if job_type.time_limit is not None and job_type.time_limit >= settings.CELERY_VISIBILITY_TIMEOUT_S:
            raise ImproperlyConfigured(
                f"Job type {job_type.name!r} has a time_limit of {job_type.time_limit} s, not below "
                f"CELERY_VISIBILITY_TIMEOUT_S ({settings.CELERY_VISIBILITY_TIMEOUT_S} s)."
            )
