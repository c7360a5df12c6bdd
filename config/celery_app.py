import os
import sys

from celery import Celery
from celery.signals import celeryd_init
from django.conf import settings
from django.utils.log import configure_logging

from ops.logformat import JsonLines
from ops.worker_steps import WorkerLiveness, WorkerMetricsServer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["worker"].update({WorkerLiveness, WorkerMetricsServer})


@celeryd_init.connect
def _logging_before_the_worker_starts(**kwargs):
    """Django's logging (and its capture of warnings) before the worker's first warning (running
    as root), which would otherwise be printed as plain text ahead of LOG_FORMAT=json's lines."""
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    if settings.LOG_FORMAT == "json":
        # Celery writes a few notices to the process's original stdout, past its redirection of
        # print(): what is printed there comes out as JSON lines. Its "worker: Warm shutdown"
        # notice, written from a signal handler, is only written to a stream with a file
        # descriptor (Celery 5.7), so in this format it is left out rather than printed bare.
        sys.__stdout__ = JsonLines(sys.__stdout__, logger="celery.stdout")
