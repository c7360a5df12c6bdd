from django.conf import settings
from django.db import models
from django.utils import timezone


class WebhookSecret(models.Model):
    """The key a user's webhooks are signed with; created on first use, replaced by rotation."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret"
    )
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"webhook secret of {self.user}"


class WebhookDelivery(models.Model):
    """One attempt to deliver a finished job to its callback_url; a retried delivery has several."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="webhook_deliveries")
    url = models.URLField(max_length=2000)
    attempt = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="None: no HTTP answer.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True, help_text="None: no request was sent.")
    error = models.TextField(blank=True, default="")
    delivered = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="webhook_delivery_created")]
        constraints = [
            models.UniqueConstraint(fields=["job", "attempt"], name="webhook_delivery_unique_attempt")
        ]

    def __str__(self) -> str:
        return f"webhook attempt {self.attempt} of {self.job_id}"
