import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # a workflow step waiting for the step before it
    SCHEDULED = "scheduled", "Scheduled"  # waiting for run_at
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying"  # an attempt failed; the next one waits for run_at
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class JobKind(models.TextChoices):
    TYPE = "type", "Job type"  # a @job_type, submitted through the API, the CLI or Celery's calling API
    TASK = "task", "Django task"  # a Django Tasks API task (jobs/tasks_api/); its type is the task's path


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
CANCELLABLE_STATUSES = frozenset(JobStatus) - TERMINAL_STATUSES
RETRYABLE_STATUSES = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


def progress_percent(current: int, total: int) -> float:
    """How far a job is, as the API, the events, the admin and the CLI show it."""
    return round(100.0 * current / total, 1)


# The most jobs one call takes: a batch submit, a bulk cancel or retry, one publishing pipeline.
BATCH_MAX_JOBS = 1000
# Statuses whose job the dispatcher publishes once run_at has come.
WAITING_FOR_TIME_STATUSES = frozenset({JobStatus.SCHEDULED, JobStatus.RETRYING})


class Workflow(models.Model):
    """Jobs run one after another, each step receiving the previous step's result."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflows")
    status = models.CharField(max_length=16, choices=JobStatus, default=JobStatus.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="workflow_owner_created")]

    def __str__(self) -> str:
        return f"workflow {self.id} ({self.status})"


class Job(models.Model):
    """One submitted job: the source of truth for its state.

    The primary key is also the Celery task id, so the outcome (return value, traceback)
    is django-celery-results' TaskResult with task_id = str(job.id).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    # db_default too: code from before this column (a rolling deploy) inserts jobs without it.
    kind = models.CharField(max_length=8, choices=JobKind, default=JobKind.TYPE, db_default=JobKind.TYPE)
    type = models.CharField(max_length=100)
    params = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=16, choices=JobStatus, default=JobStatus.QUEUED)
    queue = models.CharField(max_length=50, default="default")
    # 0 (least urgent) to 9 (most urgent), as in AMQP; see services.job_publish for Redis.
    priority = models.PositiveSmallIntegerField(default=5)
    run_at = models.DateTimeField(null=True, blank=True, help_text="When a scheduled or retrying job is due.")
    callback_url = models.URLField(max_length=2000, blank=True, default="")
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, null=True, blank=True, related_name="jobs"
    )
    step = models.PositiveSmallIntegerField(null=True, blank=True)

    progress_current = models.PositiveIntegerField(null=True, blank=True)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=500, blank=True, default="")

    attempts = models.PositiveIntegerField(default=0)
    error_type = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # For the reconciler: when the job last became queued, whether publishing it failed, and
    # the running job's last sign of life from its worker.
    queued_at = models.DateTimeField(null=True, blank=True)
    publish_failed = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

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
            models.Index(fields=["type", "-created_at"], name="job_type_created"),
            models.Index(fields=["queue", "-created_at"], name="job_queue_created"),
            # The admin's "Django task" filter; most jobs are of a job type, and skip this index.
            models.Index(fields=["-created_at"], name="job_task_created", condition=models.Q(kind="task")),
            # Reports select the jobs that finished in their window.
            models.Index(
                fields=["finished_at"], name="job_finished_at", condition=models.Q(finished_at__isnull=False)
            ),
            # The dispatcher looks for due scheduled and retrying jobs.
            models.Index(
                fields=["run_at"], name="job_due", condition=models.Q(status__in=["scheduled", "retrying"])
            ),
            # The reconciler looks for queued jobs that never started and running ones gone silent.
            models.Index(fields=["queued_at"], name="job_queued", condition=models.Q(status="queued")),
            models.Index(fields=["heartbeat_at"], name="job_running", condition=models.Q(status="running")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="job_unique_idempotency_key_per_owner",
            ),
            models.UniqueConstraint(
                fields=["workflow", "step"],
                condition=models.Q(workflow__isnull=False),
                name="job_unique_step",
            ),
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


class JobAttempt(models.Model):
    """One run of a job by a worker; a job retried twice has three."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error_type = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="attempt_unique_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.job_id}"
