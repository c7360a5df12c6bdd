from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/api/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("jobs.api.urls")),
    path("api/", include("webhooks.urls")),
    path("", include("reports.urls")),
    path("api-auth/", include("rest_framework.urls")),
]

handler404 = "common.api.errors.not_found"
handler500 = "common.api.errors.server_error"
