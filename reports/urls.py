# Included at the root by config/urls.py: the API under /api/reports/, the pages under /reports/.
from django.urls import path
from rest_framework.routers import SimpleRouter

from reports.api import ReportViewSet
from reports.views import report_page

router = SimpleRouter()
router.register("api/reports", ReportViewSet, basename="report")

urlpatterns = [*router.urls, path("reports/<uuid:pk>/", report_page, name="report-page")]
