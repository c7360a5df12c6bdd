import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from jobs import selectors, services
from jobs.api.schema import params_json_schema
from jobs.api.serializers import JobCreateInput, JobListFilters, JobOutput, JobTypeOutput
from jobs.models import Job
from jobs.registry import job_type_list


class JobViewSet(viewsets.GenericViewSet):
    """Submit jobs and follow them. Only your own jobs are visible; anyone else's id is a 404."""

    serializer_class = JobCreateInput  # the browsable API's submit form

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Job.objects.none()
        return selectors.job_list(user=self.request.user)

    def _output(self, job_or_jobs, many=False):
        return JobOutput(job_or_jobs, many=many, context={"request": self.request}).data

    @extend_schema(
        parameters=[JobListFilters, OpenApiParameter("page_size", int)], responses=JobOutput(many=True)
    )
    def list(self, request):
        filters = JobListFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        jobs = selectors.job_list(user=request.user, **filters.validated_data)
        page = self.paginate_queryset(jobs)
        return self.get_paginated_response(self._output(page, many=True))

    def get_object(self):
        try:
            job_id = uuid.UUID(str(self.kwargs["pk"]))
        except ValueError:
            raise NotFound from None
        job = selectors.job_get(user=self.request.user, job_id=job_id)
        if job is None:
            raise NotFound
        return job

    @extend_schema(
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)], responses=JobOutput
    )
    def retrieve(self, request, pk=None):
        return Response(self._output(self.get_object()))

    @extend_schema(request=JobCreateInput, responses={202: JobOutput})
    def create(self, request):
        data = JobCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.job_create(owner=request.user, **data.validated_data)
        body = self._output(selectors.job_get(user=request.user, job_id=job.pk))
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class JobTypeViewSet(viewsets.ViewSet):
    """The job types you can submit, each with a JSON Schema of its params."""

    @extend_schema(responses=JobTypeOutput(many=True))
    def list(self, request):
        types = [
            {"name": jt.name, "description": jt.description, "params_schema": params_json_schema(jt.params)}
            for jt in job_type_list()
        ]
        return Response(JobTypeOutput(types, many=True).data)
