import uuid

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django_celery_results.models import TaskResult

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "status", "owner", "created_at", "duration_display", "attempts"]
    list_filter = ["status", "type"]
    list_select_related = ["owner"]
    search_fields = ["owner__username"]
    search_help_text = "A job id, or an owner's username."
    # The changelist never runs COUNT(*) over the whole table for the "N total" link.
    show_full_result_count = False
    readonly_fields = [
        "id",
        "owner",
        "type",
        "params",
        "status",
        "progress_current",
        "progress_total",
        "progress_message",
        "attempts",
        "error_type",
        "error_message",
        "created_at",
        "started_at",
        "finished_at",
        "duration_display",
        "task_result_link",
    ]
    fieldsets = [
        (None, {"fields": ["id", "owner", "type", "params", "status", "attempts"]}),
        ("Progress", {"fields": ["progress_current", "progress_total", "progress_message"]}),
        ("Outcome", {"fields": ["error_type", "error_message", "task_result_link"]}),
        ("Timing", {"fields": ["created_at", "started_at", "finished_at", "duration_display"]}),
    ]

    @admin.display(description="duration")
    def duration_display(self, job):
        duration = job.duration
        return "—" if duration is None else f"{duration.total_seconds():.3f} s"

    @admin.display(description="Celery result")
    def task_result_link(self, job):
        task_result = TaskResult.objects.filter(task_id=str(job.pk)).only("pk", "status").first()
        if task_result is None:
            return "—"
        url = reverse("admin:django_celery_results_taskresult_change", args=[task_result.pk])
        return format_html('<a href="{}">{} (result, traceback)</a>', url, task_result.status)

    def get_search_results(self, request, queryset, search_term):
        # A full job id finds that job by primary key; anything else searches usernames.
        try:
            job_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(pk=job_id), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting here would orphan the job's TaskResult; removal belongs to a pruning service.
        return False
