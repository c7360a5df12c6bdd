import uuid

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from common.admin import ReadOnlyAdmin
from webhooks.models import WebhookDelivery

# WebhookSecret is not registered: staff have no reason to read users' signing keys.


class StatusClassFilter(admin.SimpleListFilter):
    """2xx, 4xx, ... or no answer: fixed choices, not a SELECT DISTINCT over the deliveries."""

    title = "status code"
    parameter_name = "status_class"

    def lookups(self, request, model_admin):
        return [("2", "2xx"), ("3", "3xx"), ("4", "4xx"), ("5", "5xx"), ("none", "no answer")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(status_code__isnull=True)
        if value in {"2", "3", "4", "5"}:
            first = int(value) * 100
            return queryset.filter(status_code__gte=first, status_code__lt=first + 100)
        return queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "job_link",
        "url",
        "attempt",
        "status_code",
        "duration_ms",
        "delivered",
        "error",
        "created_at",
    ]
    list_filter = ["delivered", StatusClassFilter, ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["job"]
    # `^`: istartswith, which stops at the first page of matches in created_at order; a full job
    # id is looked up by the job foreign key's index in get_search_results.
    search_fields = ["^url"]
    search_help_text = "A full job id, or the start of a callback URL."

    @admin.display(description="job")
    def job_link(self, delivery):
        url = reverse("admin:jobs_job_change", args=[delivery.job_id])
        return format_html('<a href="{}">{}</a>', url, delivery.job)

    def get_search_results(self, request, queryset, search_term):
        try:
            job_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(job_id=job_id), False
