from django.urls import reverse as django_reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse

from common.api.pagination import NewestFirstCursorPagination
from common.api.viewsets import ID_PARAMETER, OwnedViewSet
from reports import selectors
from reports.csv import CSVRenderer, report_rows
from reports.models import Report

FORMAT_PARAMETER = OpenApiParameter(
    "format",
    str,
    enum=["json", "csv"],
    description="csv: section,key,metric,value rows (one row per report in the list).",
)


class ReportSummaryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    owner = serializers.CharField(
        source="owner.get_username", allow_null=True, help_text="Empty: everyone's jobs."
    )
    job = serializers.UUIDField(
        source="job_id", allow_null=True, help_text="The report.generate job that wrote it."
    )
    generated_at = serializers.DateTimeField()
    created = serializers.IntegerField(source="data.totals.created", help_text="Jobs created in the window.")
    finished = serializers.IntegerField(source="data.totals.finished", help_text="Jobs that finished in it.")
    succeeded = serializers.IntegerField(source="data.totals.succeeded")
    failed = serializers.IntegerField(source="data.totals.failed")
    cancelled = serializers.IntegerField(source="data.totals.cancelled")
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField(help_text="The report with charts, for a browser.")

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, report):
        return reverse("report-detail", kwargs={"pk": report.pk}, request=self.context.get("request"))

    @extend_schema_field(OpenApiTypes.URI)
    def get_page_url(self, report):
        # Django's reverse: DRF's would carry ?format=csv over to an HTML page.
        return self.context["request"].build_absolute_uri(django_reverse("report-page", args=[report.pk]))


class ReportOutput(ReportSummaryOutput):
    data = serializers.JSONField(
        help_text="by_status, by_type, queue_wait (jobs created in the window); throughput, run_time, "
        "failure_rate, top_errors, slowest (jobs that finished in it); totals. Times are in seconds."
    )


class NewestWindowFirst(NewestFirstCursorPagination):
    ordering = ("-window_start", "-id")


class ReportViewSet(OwnedViewSet):
    """Job statistics per hour or day: your own reports; staff see every report, system-wide ones too."""

    model = Report
    output_class = ReportOutput
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    pagination_class = NewestWindowFirst

    def owned(self, user):
        return selectors.report_list(user=user)

    @extend_schema(
        parameters=[FORMAT_PARAMETER, OpenApiParameter("page_size", int)],
        responses=ReportSummaryOutput(many=True),
    )
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        reports = ReportSummaryOutput(page, many=True, context={"request": request}).data
        if request.accepted_renderer.format != "csv":
            return self.get_paginated_response(reports)
        # A CSV body has no room for the page links: they go in a Link header (RFC 8288).
        links = [(self.paginator.get_next_link(), "next"), (self.paginator.get_previous_link(), "prev")]
        link = ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links if url)
        return Response(reports, headers={"Link": link} if link else None)

    @extend_schema(parameters=[ID_PARAMETER, FORMAT_PARAMETER], responses=ReportOutput)
    def retrieve(self, request, pk=None):
        report = self._output(self.get_object())
        return Response(report_rows(report) if request.accepted_renderer.format == "csv" else report)
