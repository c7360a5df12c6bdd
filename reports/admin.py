from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from common.admin import ReadOnlyAdmin
from reports import services
from reports.models import Report, ReportKind


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["kind", "window_start", "window_end", "owner_display", "generated_at", "page_link"]
    list_filter = ["kind", "window_start"]
    list_select_related = ["owner"]
    search_fields = ["owner__username"]
    readonly_fields = [
        "id",
        "kind",
        "window_start",
        "window_end",
        "owner",
        "job",
        "generated_at",
        "page_link",
        "data",
    ]
    change_list_template = "reports/admin_change_list.html"

    @admin.display(description="owner", ordering="owner__username")
    def owner_display(self, report):
        return report.owner or "(everyone's jobs)"

    @admin.display(description="report")
    def page_link(self, report):
        return format_html('<a href="{}">View report</a>', reverse("report-page", args=[report.pk]))

    def get_urls(self):
        generate = self.admin_site.admin_view(require_POST(self.generate_view))
        return [path("generate/", generate, name="reports_report_generate"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "windows": ReportKind.choices})

    def generate_view(self, request):
        """Submit a report.generate job for the last complete hour or day, as the staff user."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        window = request.POST.get("window")
        if window in ReportKind.values:
            job = services.report_submit(window=window, owner=request.user)
            job_url = reverse("admin:jobs_job_change", args=[job.pk])
            self.message_user(
                request,
                format_html(
                    'Submitted <a href="{}">report job {}</a>; the report appears here when it has run.',
                    job_url,
                    job.pk,
                ),
                messages.SUCCESS,
            )
        else:
            self.message_user(request, f"Unknown report window {window!r}.", messages.ERROR)
        return redirect("admin:reports_report_changelist")
