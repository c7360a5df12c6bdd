from collections import Counter

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from common import netguard
from jobs.models import BATCH_MAX_JOBS, JobStatus
from jobs.output import JobOutput
from jobs.registry import job_type_list, job_type_names, unknown_job_type_message

MAX_DELAY_S = 366 * 24 * 3600


class JobTypeChoiceField(serializers.ChoiceField):
    """The registered type names; also the browsable API's drop-down."""

    def __init__(self, **kwargs):
        super().__init__(choices=job_type_names(), **kwargs)

    def fail(self, key, **kwargs):
        if key == "invalid_choice":
            raise serializers.ValidationError(unknown_job_type_message(str(kwargs["input"])), code=key)
        super().fail(key, **kwargs)


@extend_schema_field({"type": "object", "additionalProperties": True})
class ParamsField(serializers.JSONField):
    """A JSON object. In the browsable API's form it is a textarea that takes JSON."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.", code="not_an_object")
        return value


class JobCreateInput(serializers.Serializer):
    type = JobTypeChoiceField(help_text="A job type name from /api/job-types/.")
    params = ParamsField(
        required=False, default=dict, initial=dict, help_text="The type's params; see its params_schema."
    )
    priority = serializers.IntegerField(
        min_value=0, max_value=9, default=5, help_text="0 (least urgent) to 9 (most urgent)."
    )
    run_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601: do not start before this time. Excludes delay_s."
    )
    delay_s = serializers.FloatField(
        required=False, min_value=0, max_value=MAX_DELAY_S, help_text="Seconds to wait before starting."
    )
    callback_url = serializers.URLField(
        required=False,
        max_length=2000,
        validators=[netguard.validate_outbound_url],
        help_text="Receives a signed POST of the job when it finishes (public http/https only).",
    )

    def validate(self, attrs):
        if "run_at" in attrs and "delay_s" in attrs:
            raise serializers.ValidationError({"delay_s": ["Give run_at or delay_s, not both."]})
        return attrs


class JobBatchInput(serializers.Serializer):
    jobs = JobCreateInput(many=True, allow_empty=False, max_length=BATCH_MAX_JOBS)


class WorkflowStepInput(serializers.Serializer):
    type = JobTypeChoiceField()
    params = ParamsField(required=False, default=dict)


class WorkflowCreateInput(serializers.Serializer):
    steps = WorkflowStepInput(many=True, min_length=1, max_length=50)


class JobListFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    type = serializers.CharField(max_length=100, required=False)


class JobBulkInput(JobListFilters):
    """Which jobs a bulk cancel or retry acts on: a list of ids, or the list endpoint's filters."""

    ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, allow_empty=False, max_length=BATCH_MAX_JOBS
    )

    def validate(self, attrs):
        filters = attrs.keys() & {"status", "type"}
        if "ids" in attrs and filters:
            given = ", ".join(sorted(filters))
            raise serializers.ValidationError({"ids": [f"Give ids or filters ({given}), not both."]})
        if "ids" not in attrs and not filters:
            raise serializers.ValidationError({"ids": ["Give a list of job ids, or filters: status, type."]})
        return attrs


class BulkOutcomeOutput(serializers.Serializer):
    id = serializers.UUIDField()
    outcome = serializers.CharField(help_text="cancelled, already_cancelled, retried, conflict, not_found.")
    status = serializers.CharField(allow_null=True, help_text="The job's status afterwards; null if none.")


def bulk_output(outcomes: dict, *, more: bool) -> dict:
    """The answer of a bulk operation, from services' id -> Outcome (the CLI prints it too)."""
    return {
        "results": [
            {"id": job_id, "outcome": outcome.result, "status": outcome.status}
            for job_id, outcome in outcomes.items()
        ],
        "counts": dict(Counter(outcome.result for outcome in outcomes.values())),
        "more": more,
    }


class BulkOutput(serializers.Serializer):
    results = BulkOutcomeOutput(many=True)
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Jobs per outcome.")
    more = serializers.BooleanField(help_text="With filters: more jobs match; call again for the next batch.")


class JobTypeOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    params_schema = serializers.JSONField(help_text="A JSON Schema of the params object.")


class WorkflowOutput(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    steps = JobOutput(source="jobs", many=True)
    url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, workflow):
        return reverse("workflow-detail", kwargs={"pk": workflow.pk}, request=self.context.get("request"))


def job_create_input_per_type() -> dict[str, serializers.Serializer]:
    """One request schema per job type for the OpenAPI document: `type` fixed, `params` its own."""
    return {
        job_type.name: type(
            "".join(part.title() for part in job_type.name.replace("_", ".").split(".")) + "JobCreate",
            (JobCreateInput,),
            {
                "type": serializers.CharField(help_text=f'"{job_type.name}": {job_type.description}'),
                "params": job_type.params(required=False),
            },
        )()
        for job_type in job_type_list()
    }
