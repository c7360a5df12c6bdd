"""The report.generate job type: reports run as jobs, so every run is in the ledger."""

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from jobs.types import job_type
from reports import services
from reports.models import ReportKind


class ReportParams(serializers.Serializer):
    window = serializers.ChoiceField(choices=ReportKind.choices)
    at = serializers.DateTimeField(
        default=timezone.now,
        help_text="ISO 8601; the report covers the last complete hour or day before it. "
        "Defaults to the time of submission.",
    )


@job_type("report.generate", params=ReportParams, soft_time_limit=120, time_limit=150)
def generate(ctx, *, window, at):
    """Generate the report of the last complete hour or day before `at`, one step per metric group.

    Staff (and scheduled runs) get a report of everyone's jobs; anyone else one of their own jobs.
    """
    owner = services.report_scope_owner(user=ctx.job.owner)
    report = services.report_generate(
        kind=window, at=parse_datetime(at), owner=owner, job=ctx.job, progress=ctx.progress
    )
    return {
        "report": str(report.pk),
        "window_start": report.window_start.isoformat(),
        "window_end": report.window_end.isoformat(),
    }
