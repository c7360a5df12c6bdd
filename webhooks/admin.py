from django.contrib import admin

from jobs.admin import ReadOnlyAdmin
from webhooks.models import WebhookDelivery

# WebhookSecret is not registered: staff have no reason to read users' signing keys.


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["job", "url", "attempt", "status_code", "duration_ms", "delivered", "error", "created_at"]
    list_filter = ["delivered", "status_code", "created_at"]
    list_select_related = ["job"]
    search_fields = ["url"]
