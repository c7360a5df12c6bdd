import logging

from celery import shared_task

from reports import services

logger = logging.getLogger(__name__)


@shared_task(name="reports.generate_scheduled", ignore_result=True)
def generate_scheduled(*, window: str):
    """Beat's hourly and daily trigger: submit a report.generate job owned by the system user."""
    job = services.report_submit(window=window)
    logger.info("submitted %s report job %s", window, job.pk)
