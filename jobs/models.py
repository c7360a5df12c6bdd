import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class Job(models.Model):
    """One submitted job: the source of truth for its state.

    The primary key is also the Celery task id, so the outcome (return value, traceback)
    is django-celery-results' TaskResult with task_id = str(job.id).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    type = models.CharField(max_length=100)
    params = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=16, choices=JobStatus, default=JobStatus.QUEUED)

    progress_current = models.PositiveIntegerField(null=True, blank=True)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=500, blank=True, default="")

    attempts = models.PositiveIntegerField(default=0)
    error_type = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The API lists a user's jobs newest first, optionally by status or type.
            models.Index(fields=["owner", "-created_at", "-id"], name="job_owner_created"),
            models.Index(fields=["owner", "status", "-created_at"], name="job_owner_status_created"),
            models.Index(fields=["owner", "type", "-created_at"], name="job_owner_type_created"),
            # The admin lists everyone's jobs and filters them by status.
            models.Index(fields=["-created_at", "-id"], name="job_created"),
            models.Index(fields=["status", "-created_at"], name="job_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def duration(self):
        if self.started_at is None:
            return None
        if self.finished_at is None:
            return None
        return self.finished_at - self.started_at
