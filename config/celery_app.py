import os

from celery import Celery

from ops.worker_steps import WorkerLiveness, WorkerMetricsServer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["worker"].update({WorkerLiveness, WorkerMetricsServer})
