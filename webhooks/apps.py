from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from jobs.signals import job_finished

        job_finished.connect(_on_job_finished, dispatch_uid="webhooks.on_job_finished")


def _on_job_finished(sender, *, job_id, callback_url="", **kwargs):
    from webhooks.tasks import webhook_schedule

    if callback_url:  # most jobs have none: no query for them
        webhook_schedule(job_id=job_id)
