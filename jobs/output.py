"""The public shape of a job: what the API answers, a webhook posts and `manage.py job --json`
prints. One serializer for all three, so they can never disagree."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from jobs.models import JobStatus, progress_percent
from jobs.selectors import job_attempt_history, job_result


class ErrorOutput(serializers.Serializer):
    type = serializers.CharField()
    message = serializers.CharField()


class AttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    worker = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.SerializerMethodField()

    @extend_schema_field(ErrorOutput(allow_null=True))
    def get_error(self, attempt):
        return error_of(attempt)


def error_of(row) -> dict | None:
    """A job's or attempt's error summary, or None; `row` is a model instance or a dict."""
    error_type = row["error_type"] if isinstance(row, dict) else row.error_type
    if not error_type:
        return None
    message = row["error_message"] if isinstance(row, dict) else row.error_message
    return {"type": error_type, "message": message}


class LinksOutput(serializers.Serializer):
    events = serializers.URLField(help_text="Server-Sent Events of this job's changes.")
    cancel = serializers.URLField(help_text="POST here to cancel.")
    retry = serializers.URLField(help_text="POST here to run a failed or cancelled job again.")


class ProgressOutput(serializers.Serializer):
    current = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.FloatField()
    message = serializers.CharField()


class JobOutput(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    params = serializers.JSONField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    progress = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    attempts = serializers.IntegerField()
    attempt_history = serializers.SerializerMethodField()
    queue = serializers.CharField()
    priority = serializers.IntegerField()
    run_at = serializers.DateTimeField(allow_null=True)
    callback_url = serializers.CharField()
    workflow = serializers.UUIDField(source="workflow_id", allow_null=True)
    step = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    def to_representation(self, job):
        """The fields above, built directly. DRF's generic pass copies every declared field for
        every job it renders, which was a quarter of the cost of a GET; the declarations stay as
        the schema, and a test holds this output equal to the generic one."""
        return {
            "id": str(job.id),
            "type": job.type,
            "params": job.params,
            "status": job.status,
            "progress": self.get_progress(job),
            "result": self.get_result(job),
            "error": error_of(job),
            "attempts": job.attempts,
            "attempt_history": [
                {
                    "number": attempt["number"],
                    "worker": attempt["worker"],
                    "started_at": _datetime(attempt["started_at"]),
                    "finished_at": _datetime(attempt["finished_at"]),
                    "error": error_of(attempt),
                }
                for attempt in job_attempt_history(job)
            ],
            "queue": job.queue,
            "priority": job.priority,
            "run_at": _datetime(job.run_at),
            "callback_url": job.callback_url,
            "workflow": str(job.workflow_id) if job.workflow_id else None,
            "step": job.step,
            "created_at": _datetime(job.created_at),
            "started_at": _datetime(job.started_at),
            "finished_at": _datetime(job.finished_at),
            "url": self.get_url(job),
            "links": self.get_links(job),
        }

    @extend_schema_field(ProgressOutput(allow_null=True))
    def get_progress(self, job):
        if job.progress_total is None:
            return None
        current = job.progress_current or 0
        return {
            "current": current,
            "total": job.progress_total,
            "percent": progress_percent(current, job.progress_total),
            "message": job.progress_message,
        }

    @extend_schema_field(AttemptOutput(many=True))
    def get_attempt_history(self, job):
        return AttemptOutput(job_attempt_history(job), many=True).data

    @extend_schema_field(OpenApiTypes.ANY)
    def get_result(self, job):
        return job_result(job)

    @extend_schema_field(ErrorOutput(allow_null=True))
    def get_error(self, job):
        return error_of(job)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job):
        return self._job_url("detail", job)

    @extend_schema_field(LinksOutput)
    def get_links(self, job):
        return {action: self._job_url(action, job) for action in ("events", "cancel", "retry")}

    def _job_url(self, route: str, job) -> str:
        """reverse() once per route and serializer, then the job's id put in: a batch renders a
        thousand jobs with four links each, and reversing each was a fifth of its cost."""
        templates = self.__dict__.setdefault("_url_templates", {})
        if route not in templates:
            request = self.context.get("request")
            templates[route] = reverse(f"job-{route}", kwargs={"pk": _URL_PLACEHOLDER}, request=request)
        return templates[route].replace(_URL_PLACEHOLDER, str(job.pk))


_DATETIME_FIELD = serializers.DateTimeField()
# A job id no job has, standing in for the id in reversed URL templates.
_URL_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _datetime(value) -> str | None:
    return None if value is None else _DATETIME_FIELD.to_representation(value)
