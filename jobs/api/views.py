import re

from django.db import connection
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from common.api.viewsets import ID_PARAMETER, OwnedViewSet, uuid_or_404
from jobs import events, selectors
from jobs.api.schema import params_json_schema
from jobs.api.serializers import (
    BulkOutput,
    JobBatchInput,
    JobBulkInput,
    JobCreateInput,
    JobListFilters,
    JobOutput,
    JobTypeOutput,
    WorkflowCreateInput,
    WorkflowOutput,
    bulk_output,
    job_create_input_per_type,
)
from jobs.api.streams import EventStreamRenderer, job_event_stream
from jobs.models import BATCH_MAX_JOBS, CANCELLABLE_STATUSES, RETRYABLE_STATUSES, Job, Workflow
from jobs.registry import job_type_list
from jobs.services.operate import job_cancel, job_retry, jobs_cancel, jobs_retry
from jobs.services.submit import job_create, job_create_many, job_spec_build
from jobs.services.workflows import workflow_cancel, workflow_create

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Repeat a submission safely: the same key and body return the original job (200); "
    "the same key with another body is a 409.",
)


STREAM_ID = re.compile(r"\d+-\d+")


class JobViewSet(OwnedViewSet):
    """Submit jobs and follow them. Only your own jobs are visible; anyone else's id is a 404."""

    serializer_class = JobCreateInput  # the browsable API's submit form
    model = Job
    output_class = JobOutput

    def owned(self, user):
        return selectors.job_list(user=user)

    def owned_one(self, user, pk):
        return selectors.job_get(user=user, job_id=pk)

    def _reloaded(self, job):
        return self._output(selectors.job_get(user=self.request.user, job_id=job.pk))

    @extend_schema(
        parameters=[JobListFilters, OpenApiParameter("page_size", int)], responses=JobOutput(many=True)
    )
    def list(self, request):
        filters = JobListFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        jobs = selectors.job_list(user=request.user, **filters.validated_data)
        page = self.paginate_queryset(jobs)
        return self.get_paginated_response(self._output(page, many=True))

    @extend_schema(parameters=[ID_PARAMETER], responses=JobOutput)
    def retrieve(self, request, pk=None):
        return Response(self._output(self.get_object()))

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        request=PolymorphicProxySerializer(
            component_name="JobCreate",
            serializers=job_create_input_per_type,
            resource_type_field_name="type",
        ),
        responses={202: JobOutput, 200: OpenApiResponse(JobOutput, description="An idempotent replay.")},
    )
    def create(self, request):
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 200:
            raise ValidationError({"Idempotency-Key": ["At most 200 characters."]})
        data = JobCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec = job_spec_build(**data.validated_data)
        job, created = job_create(owner=request.user, spec=spec, idempotency_key=key)
        body = self._output(selectors.job_just_created(job)) if created else self._reloaded(job)
        code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        return Response(body, status=code, headers={"Location": body["url"]})

    @extend_schema(request=JobBatchInput, responses={202: JobOutput(many=True)})
    @action(detail=False, methods=["post"], serializer_class=JobBatchInput)
    def batch(self, request):
        """Submit up to 1,000 jobs at once: all are validated first, then stored together."""
        data = JobBatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        specs, errors, validators = [], [], {}
        for item in data.validated_data["jobs"]:
            try:
                specs.append(job_spec_build(**item, validators=validators))
                errors.append({})
            except ValidationError as error:
                errors.append(error.detail)
        if any(errors):
            raise ValidationError({"jobs": errors})
        jobs = job_create_many(owner=request.user, specs=specs)
        created = [selectors.job_just_created(job) for job in jobs]
        return Response({"jobs": self._output(created, many=True)}, status=202)

    @extend_schema(operation_id="jobs_cancel_many", request=JobBulkInput, responses=BulkOutput)
    @action(detail=False, methods=["post"], url_path="cancel", serializer_class=JobBulkInput)
    def cancel_many(self, request):
        """Cancel up to 1,000 jobs, by ids or by filters (status, type), with an outcome per job.

        A job that cannot be cancelled is reported as a conflict; the others are cancelled all
        the same. Filters select the oldest 1,000 unfinished jobs that match; `more` says
        whether to call again.
        """
        return self._bulk(request, jobs_cancel, among=CANCELLABLE_STATUSES)

    @extend_schema(operation_id="jobs_retry_many", request=JobBulkInput, responses=BulkOutput)
    @action(detail=False, methods=["post"], url_path="retry", serializer_class=JobBulkInput)
    def retry_many(self, request):
        """Retry up to 1,000 failed or cancelled jobs, by ids or by filters, with an outcome per job."""
        return self._bulk(request, jobs_retry, among=RETRYABLE_STATUSES)

    def _bulk(self, request, service, *, among):
        data = JobBulkInput(data=request.data)
        data.is_valid(raise_exception=True)
        ids, more = data.validated_data.get("ids"), False
        if ids is None:
            ids, more = selectors.job_ids_matching(
                user=request.user, **data.validated_data, among=among, limit=BATCH_MAX_JOBS
            )
        outcomes = service(job_ids=ids, owner=request.user)
        return Response(bulk_output(outcomes, more=more))

    @extend_schema(
        parameters=[ID_PARAMETER], request=None, responses={200: JobOutput, 409: OpenApiTypes.OBJECT}
    )
    @action(detail=True, methods=["post"], serializer_class=serializers.Serializer)
    def cancel(self, request, pk=None):
        """Cancel an unfinished job; a finished one is a 409. Cancelling twice is harmless."""
        return Response(self._reloaded(job_cancel(job=self.get_object())))

    @extend_schema(
        parameters=[ID_PARAMETER], request=None, responses={200: JobOutput, 409: OpenApiTypes.OBJECT}
    )
    @action(detail=True, methods=["post"], serializer_class=serializers.Serializer)
    def retry(self, request, pk=None):
        """Run a failed or cancelled job again, as a new attempt."""
        return Response(self._reloaded(job_retry(job=self.get_object())))

    @extend_schema(
        parameters=[
            ID_PARAMETER,
            OpenApiParameter(
                "Last-Event-ID", str, OpenApiParameter.HEADER, description="Resume after this event."
            ),
        ],
        responses={(200, "text/event-stream"): OpenApiTypes.STR},
        description="Server-Sent Events: a `snapshot` event with the job, then one `status` or `progress` "
        "event per change; the stream ends after the terminal status. Idle streams get heartbeat comments.",
    )
    @action(detail=True, methods=["get"], renderer_classes=[EventStreamRenderer])
    def events(self, request, pk=None):
        job_id = uuid_or_404(pk)
        last_event_id = request.headers.get("Last-Event-ID", "").strip()
        if last_event_id and not STREAM_ID.fullmatch(last_event_id):
            raise ValidationError({"Last-Event-ID": ["Not an event id from this stream."]})
        # The stream position is read before the snapshot, so no change falls between them.
        after_id = last_event_id or events.event_last_id(job_id=job_id)
        job = self.get_object()
        # A listener that resumes gets what it missed; a new one gets the job first. One that
        # resumes after the end (or after the events expired) gets the final state, and the
        # stream ends rather than waiting for events that will never come.
        missed = last_event_id and events.event_exists_after(job_id=job_id, event_id=last_event_id)
        snapshot = None if missed or (last_event_id and not job.is_finished) else dict(self._output(job))
        # The stream outlives this thread's work: give the database connection back now.
        connection.close()
        response = StreamingHttpResponse(
            job_event_stream(job_id=job_id, snapshot=snapshot, after_id=after_id),
            content_type="text/event-stream",
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response


class JobTypeViewSet(viewsets.ViewSet):
    """The job types you can submit, each with a JSON Schema of its params."""

    @extend_schema(responses=JobTypeOutput(many=True))
    def list(self, request):
        types = [
            {"name": jt.name, "description": jt.description, "params_schema": params_json_schema(jt.params)}
            for jt in job_type_list()
        ]
        return Response(JobTypeOutput(types, many=True).data)


class WorkflowViewSet(OwnedViewSet):
    """Jobs run one after another; each step gets the previous step's result as `previous`."""

    serializer_class = WorkflowCreateInput
    model = Workflow
    output_class = WorkflowOutput

    def owned(self, user):
        return selectors.workflow_list(user=user)

    @extend_schema(responses=WorkflowOutput(many=True))
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self._output(page, many=True))

    @extend_schema(parameters=[ID_PARAMETER], responses=WorkflowOutput)
    def retrieve(self, request, pk=None):
        return Response(self._output(self.get_object()))

    @extend_schema(request=WorkflowCreateInput, responses={202: WorkflowOutput})
    def create(self, request):
        data = WorkflowCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        workflow = workflow_create(owner=request.user, steps=data.validated_data["steps"])
        body = self._output(selectors.workflow_get(user=request.user, workflow_id=workflow.pk))
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(parameters=[ID_PARAMETER], request=None, responses=WorkflowOutput)
    @action(detail=True, methods=["post"], serializer_class=serializers.Serializer)
    def cancel(self, request, pk=None):
        """Cancel the steps that have not finished."""
        workflow_cancel(workflow=self.get_object())
        return Response(self._output(self.get_object()))
