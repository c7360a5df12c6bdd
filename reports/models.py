import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class ReportKind(models.TextChoices):
    HOUR = "hour", "Hourly"
    DAY = "day", "Daily"


class Report(models.Model):
    """The job statistics of one hour or day, for everyone's jobs (owner NULL) or one user's.

    `data` holds the metrics (see reports.services.report_generate for its shape). Each window
    is stored once per owner: generating it again replaces the data and keeps the id.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=8, choices=ReportKind)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reports",
        help_text="Empty: a system-wide report of everyone's jobs, visible to staff only.",
    )
    # The report.generate job that last wrote it; a pruned job leaves the report in place.
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    generated_at = models.DateTimeField()
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-window_start", "kind"]
        indexes = [models.Index(fields=["owner", "-window_start"], name="report_owner_window")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "window_start", "owner"],
                nulls_distinct=False,  # one system-wide report per window, too
                name="report_unique_window",
            )
        ]

    def __str__(self) -> str:
        scope = self.owner.get_username() if self.owner_id else "all jobs"
        return f"{self.get_kind_display()} report {self.window_start:%Y-%m-%d %H:%M} ({scope})"
